"""sam_edge.runtime: torch-free SAM inference (numpy + pillow + onnxruntime / OpenVINO)."""
