"""Scenes for the coming steps, drawn ahead by worker processes while the model trains.

Scene generation costs ~50 ms of one core per scene whatever the training size: negligible beside a
CPU step, but a GPU step on a batch of scenes would wait for it. Each scene is drawn with its own
generator, seeded from (seed, scene index), and handed back with it, so the prompts drawn later
continue the same stream: a run gives the same scenes and prompts with any number of workers.
"""

from __future__ import annotations

import multiprocessing

import numpy as np
from data import make_sample
from train_step import SceneDraw

from sam_edge.scenes import training_seed


def draw_scene(scene_index: int, seed: int, image_size: int, instances: int, copies: int) -> SceneDraw:
    """Scene ``training_seed(scene_index)`` at ``image_size``, with up to ``instances`` x ``copies`` prompts."""
    rng = np.random.default_rng((seed, scene_index))
    return SceneDraw(make_sample(training_seed(scene_index), image_size, instances, rng, copies), rng)


class ScenePrefetcher:
    """The scenes of step s are indices s*K .. s*K+K-1 (K scenes per step); with workers, the next
    ``ahead`` steps are generated in the background at the current training size."""

    def __init__(self, seed: int, instances: int, copies: int, scenes_per_step: int, workers: int, ahead: int = 4):
        self.settings = (seed, instances, copies)
        self.scenes_per_step, self.ahead = scenes_per_step, ahead
        # spawn, not fork: the parent may hold CUDA and thread pools that a forked child must not inherit
        self.pool = multiprocessing.get_context("spawn").Pool(workers) if workers else None
        self.pending: dict[tuple[int, int], multiprocessing.pool.AsyncResult] = {}

    def draws(self, step: int, image_size: int) -> list[SceneDraw]:
        """The scenes of ``step`` at ``image_size`` (in order)."""
        first = step * self.scenes_per_step
        indices = range(first, first + self.scenes_per_step)
        if self.pool is None:
            return [draw_scene(index, self.settings[0], image_size, *self.settings[1:]) for index in indices]
        # Drawn at another size (the stage changed) or for steps already taken: not needed any more.
        self.pending = {key: job for key, job in self.pending.items() if key[0] >= first and key[1] == image_size}
        for index in range(first, first + self.scenes_per_step * (1 + self.ahead)):
            if (index, image_size) not in self.pending:
                arguments = (index, self.settings[0], image_size, *self.settings[1:])
                self.pending[(index, image_size)] = self.pool.apply_async(draw_scene, arguments)
        return [self.pending.pop((index, image_size)).get() for index in indices]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
