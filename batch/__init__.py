"""sam_edge.batch: ``sam-edge batch``, one task over many images, on this machine or a Ray cluster.

    from sam_edge.batch import BatchJob, run_batch
    summary = run_batch(BatchJob("photos/", Path("out"), task="embed"))   # summary.counts, summary.manifest

Parts: batch/items.py (folders, globs, manifests -> items), batch/prompt_spec.py (prompts per image),
batch/item_worker.py (one item's work, the same under both engines), batch/outputs.py (output names,
completion markers, resuming), batch/results.py (the parquet results manifest), batch/local_engine.py
(a process pool) and batch/ray_engine.py (Ray Data). Imports go one way: batch uses runtime, never
the reverse. Running it on a cluster and its cost: docs/scale.md.
"""

from sam_edge.batch.job import BatchJob, BatchSummary, run_batch

__all__ = ["BatchJob", "BatchSummary", "run_batch"]
