"""Throughput of ``sam-edge batch --task embed`` on this machine, its engines against a plain loop, and resuming.

``python -m sam_edge.bench.batch_bench [--images 50] [--out batch_bench.json]`` measures, once each
and on cores nothing else uses, on ``--images`` generated scenes (JPEG, long side 256-1024 px) with the bundled model:

- ``loop``: the best single process: one SamPredictor with every core as threads, then load, encode and
  save each image in turn (model load included, and reported alone);
- ``local``: the local engine, default split (1 thread per worker, a worker per core), and 1 x all cores;
- ``ray``: the Ray engine on a Ray it starts here; Ray's fixed cost (``ray.init`` + shutdown with no
  work) is measured alone and subtracted for the throughput figure;
- ``resume``: the local engine in a subprocess, SIGKILLed once half the outputs exist, then run again:
  encodes done in all (lost in-flight ones counted at their upper bound, one per worker) and wall time,
  each against one uninterrupted subprocess run.

Wall times come from bench/timing.py; rates are images per second over the whole run (start-up
included) and ``steady``: from the first image done to the last (a pool's rate once its workers hold
the model; for the loop, without its model load).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sam_edge.bench.timing import time_once
from sam_edge.runtime.atomic_write import atomic_output


def write_images(folder: Path, count: int) -> list[Path]:
    from PIL import Image

    from sam_edge.scenes import generate_scene

    paths = []
    for seed in range(count):
        path = folder / f"scene{seed:03d}.jpg"
        Image.fromarray(generate_scene(seed).image).save(path, quality=90)
        paths.append(path)
    return paths


def single_process_loop(paths: list[Path], out: Path, threads: int) -> dict:
    from sam_edge.runtime.image_io import load_image
    from sam_edge.runtime.predictor import SamPredictor

    started = time.perf_counter()
    predictor = SamPredictor(threads=threads, cache_size=0)
    load_s = time.perf_counter() - started
    out.mkdir()

    def run() -> None:
        for path in paths:
            predictor.encode(load_image(str(path))).save(out / f"{path.name}.npz")

    work_s = time_once(run)
    seconds = work_s + load_s
    return {
        "seconds": seconds,
        "model_load_s": load_s,
        "rate": len(paths) / seconds,
        "steady_rate": len(paths) / work_s,
        "threads": threads,
    }


def engine_run(folder: Path, out: Path, engine: str, workers: int | None = None, threads: int | None = None) -> dict:
    from sam_edge.batch import BatchJob, run_batch

    job = BatchJob(str(folder), out, engine=engine, workers=workers, threads_per_worker=threads)
    summaries, finished = [], []
    seconds = time_once(
        lambda: summaries.append(run_batch(job, on_row=lambda row: finished.append(time.perf_counter())))
    )
    result = summaries[0]
    images = sum(result.counts.values())
    return {
        "seconds": seconds,
        "rate": images / seconds,
        # from the first image done to the last: the pool's rate once every worker has loaded the model
        # (not for Ray, whose rows reach the driver a block at a time)
        "steady_rate": (len(finished) - 1) / (finished[-1] - finished[0]) if engine == "local" else None,
        "workers": result.workers,
        "threads_per_worker": result.threads_per_worker,
        "counts": result.counts,
    }


def ray_fixed_cost(cpus: int) -> float:
    """Seconds of starting and shutting down a local Ray with no work (what every Ray run pays once)."""
    from sam_edge.batch.ray_engine import RaySession

    return time_once(lambda: RaySession(None, cpus).close())


def _batch_command(folder: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "sam_edge", "batch", str(folder), "--out", str(out)]


def resume_after_kill(folder: Path, root: Path, images: int, workers: int) -> dict:
    whole = time_once(lambda: subprocess.run(_batch_command(folder, root / "whole"), capture_output=True, check=False))
    started = time.perf_counter()
    process = subprocess.Popen(
        _batch_command(folder, root / "resumed"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while len(list((root / "resumed").glob("*.done.json"))) < images // 2 and process.poll() is None:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_s = time.perf_counter() - started
    done_at_kill = len(list((root / "resumed").glob("*.done.json")))
    resume_s = time_once(lambda: subprocess.run(_batch_command(folder, root / "resumed"), capture_output=True))
    import pyarrow.parquet as parquet

    rows = parquet.read_table(root / "resumed" / "results.parquet").to_pylist()
    resumed_ok = sum(row["status"] == "ok" for row in rows)
    encodes = done_at_kill + workers + resumed_ok  # the killed workers' images in flight: at most one each
    return {
        "uninterrupted_s": whole,
        "killed_after_s": killed_s,
        "done_at_kill": done_at_kill,
        "resume_s": resume_s,
        "resumed_ok": resumed_ok,
        "skipped": sum(row["status"] == "skipped" for row in rows),
        "work_ratio_max": encodes / images,
        "wall_ratio": (killed_s + resume_s) / whole,
    }


def measure(images: int) -> dict:
    from sam_edge.batch.job import cpus_here

    cpus = cpus_here()
    with tempfile.TemporaryDirectory(prefix="batch_bench.") as temp:
        root = Path(temp)
        (root / "images").mkdir()
        paths = write_images(root / "images", images)
        results = {"images": images, "cpus": cpus}
        results["loop"] = single_process_loop(paths, root / "loop", cpus)
        results["local"] = engine_run(root / "images", root / "local", "local")
        results["local_1xall"] = engine_run(root / "images", root / "local1", "local", workers=1, threads=cpus)
        if ray_installed():
            results["ray_fixed_s"] = ray_fixed_cost(cpus)
            results["ray"] = engine_run(root / "images", root / "ray", "ray")
        results["resume"] = resume_after_kill(root / "images", root, images, results["local"]["workers"])
        results["npz_bytes_per_image"] = sum(p.stat().st_size for p in (root / "local").glob("*.npz")) / images
    results["ratios"] = {
        "local_vs_loop": results["local"]["rate"] / results["loop"]["rate"],
        "local_vs_loop_steady": results["local"]["steady_rate"] / results["loop"]["steady_rate"],
    }
    if "ray" in results:
        ray_work = results["ray"]["seconds"] - results["ray_fixed_s"]
        results["ratios"]["ray_vs_local_with_startup"] = results["ray"]["rate"] / results["local"]["rate"]
        results["ratios"]["ray_vs_local_without_fixed_cost"] = (images / ray_work) / results["local"]["rate"]
    return results


def ray_installed() -> bool:
    try:
        import ray.data  # noqa: F401
    except ImportError:
        print('ray is not installed (pip install "sam-edge[ray]"): the Ray figures are left out', file=sys.stderr)
        return False
    return True


def report(results: dict) -> str:
    loop, local, local1, ray = results["loop"], results["local"], results["local_1xall"], results.get("ray")
    resume, ratios = results["resume"], results["ratios"]
    lines = [
        f"sam-edge batch --task embed, {results['images']} images, {results['cpus']} CPUs, bundled model",
        f"loop (1 process x {loop['threads']} threads): {loop['seconds']:.1f} s, {loop['rate']:.2f} img/s "
        f"(model load {loop['model_load_s']:.1f} s; without it {loop['steady_rate']:.2f} img/s)",
        f"local ({local['workers']} x {local['threads_per_worker']}): {local['seconds']:.1f} s, "
        f"{local['rate']:.2f} img/s = {ratios['local_vs_loop']:.2f}x the loop; steady {local['steady_rate']:.2f} img/s "
        f"= {ratios['local_vs_loop_steady']:.2f}x",
        f"local ({local1['workers']} x {local1['threads_per_worker']}): {local1['seconds']:.1f} s, "
        f"{local1['rate']:.2f} img/s; steady {local1['steady_rate']:.2f} img/s",
        "ray: not measured (not installed)"
        if ray is None
        else f"ray ({ray['workers']} x {ray['threads_per_worker']}): {ray['seconds']:.1f} s, {ray['rate']:.2f} img/s"
        f" = {ratios['ray_vs_local_with_startup']:.2f}x local; Ray's fixed cost {results['ray_fixed_s']:.1f} s, "
        f"without it {ratios['ray_vs_local_without_fixed_cost']:.2f}x local",
        f"resume: killed after {resume['killed_after_s']:.1f} s with {resume['done_at_kill']} done, resumed in "
        f"{resume['resume_s']:.1f} s ({resume['skipped']} skipped, {resume['resumed_ok']} encoded); encodes <= "
        f"{resume['work_ratio_max']:.2f}x, wall {resume['wall_ratio']:.2f}x an uninterrupted run "
        f"({resume['uninterrupted_s']:.1f} s)",
        f"output: {results['npz_bytes_per_image'] / 2**20:.2f} MiB of .npz per image",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50, help="generated images to process (default: 50)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    results = measure(args.images)
    print(report(results))
    if args.out:
        with atomic_output(args.out, suffix=".json") as temp:
            temp.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
