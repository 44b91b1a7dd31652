"""Time sam_edge.scenes.generate_scene per scene at fixed long sides (CPU time of this process, one core).

    .venv/bin/python scripts/time_scenes.py [--count 30] [--repeat 3] [--sides 256,512,1024]

CPU time rather than wall time, and the best of --repeat runs per scene, so other work on a shared
machine distorts the numbers less; the median and p90 are then taken across scenes.
"""

import argparse
import time

import numpy as np

from sam_edge.scenes import SceneConfig, generate_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30, help="scenes per size (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scene, best kept (default: %(default)s)")
    parser.add_argument("--sides", default="256,512,1024", help="long sides in px (default: %(default)s)")
    args = parser.parse_args()
    generate_scene(0)  # warm-up: imports, first allocations
    for side in (int(s) for s in args.sides.split(",")):
        config = SceneConfig(long_side=(side, side))
        times, instances = [], []
        for seed in range(args.count):
            runs = []
            for _ in range(args.repeat):
                start = time.process_time()
                scene = generate_scene(seed, config)
                runs.append((time.process_time() - start) * 1000)
            times.append(min(runs))
            instances.append(len(scene.kinds))
        ms = np.array(times)
        print(
            f"long side {side:5d}: median {np.median(ms):6.1f} ms  mean {ms.mean():6.1f}  "
            f"p90 {np.percentile(ms, 90):6.1f}  max {ms.max():6.1f}   instances/scene {np.mean(instances):.1f}"
        )


if __name__ == "__main__":
    main()
