"""STAND-IN for the sweep-core branch's samplers (dropped at its merge)."""

import json
import random
from dataclasses import dataclass

from .space import SpaceError


@dataclass
class Trial:
    params: dict
    value: float | None
    state: str


def _key(params):
    return json.dumps(params, sort_keys=True)


class GridSampler:
    def __init__(self, space, **_):
        self.points = space.grid()

    def suggest(self, n, trials):
        seen = {_key(t.params) for t in trials}
        return [p for p in self.points if _key(p) not in seen][:n]


class RandomSampler:
    def __init__(self, space, *, seed=None, **_):
        self.space, self.seed = space, seed

    def suggest(self, n, trials):
        rng = random.Random(self.seed if self.seed is not None else random.random())  # noqa: S311
        for _ in range(len(trials)):  # the i-th trial always gets the i-th sample
            self.space.sample(rng)
        return [self.space.sample(rng) for _ in range(n)]


class BayesianSampler(RandomSampler):
    pass  # the real one is Optuna's TPE (sweep-core)


def make_sampler(kind, space, *, seed=None, goal="maximize"):
    if kind == "grid":
        return GridSampler(space)
    if kind == "random":
        return RandomSampler(space, seed=seed)
    if kind == "bayesian":
        return BayesianSampler(space, seed=seed)
    raise SpaceError(f"Unknown sampling {kind!r}.")
