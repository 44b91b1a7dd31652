"""export/modeling."""
