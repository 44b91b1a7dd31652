"""sam_edge/commands."""
