"""sam-edge: Segment Anything on CPUs. Export, quantize, run and benchmark SAM without a GPU.

Importing ``sam_edge`` (or ``sam_edge.runtime``) never imports torch; the export tools do.
"""

__version__ = "0.1.0"
