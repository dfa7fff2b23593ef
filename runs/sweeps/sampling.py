"""Samplers: the next parameter sets of a sweep, from the space and every trial so far.

A sampler keeps no state between calls. ``suggest(n, trials)`` depends only on the space, the seed,
the goal and the trials it is given, so an orchestrator that stores its trials (and the seed) gets
the same suggestions after a restart, and two workers asking at once get the same answer.

- grid: the grid points no trial has used yet, in grid order; none left gives [].
- random: the i-th trial of a sweep (counting every trial given, warm-start ones included) is drawn
  from an rng seeded with (seed, i), so how the calls are batched does not change the sequence. On a
  discrete space a parameter set already tried is not drawn again while untried ones remain.
- bayesian: Optuna's TPE sampler through ask-and-tell. Each call builds an in-memory study, adds the
  finished trials (done -> COMPLETE, stopped early -> PRUNED at its last step, which TPE ranks below
  every complete trial), adds the running ones as RUNNING so TPE's constant liar steers away from
  them, and asks n times with the TPE seed (seed + number of trials). Until ``startup_trials`` trials
  have a value it draws from the random path instead, from the space's own distributions.

  Optuna has no normal-family distributions. TPE sees normal(mu, sigma) as a float range
  mu ± 4 sigma (lognormal: exp of that, on a log scale; 99.994% of the prior's mass), the q-variants
  as integer multiples of q on that range (log ones as the log range, rounded to q on the way out);
  tried values outside a range are clamped into it when told. The startup draws, which shape TPE's
  first model, come from the real distributions. Failed trials, and trials whose parameters do not
  fit the space (a warm start from another space), are left out.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from runs.sweeps.space import Distribution, Space, SpaceError, normalize_name, parse_space, quantize

TrialState = Literal["running", "done", "failed", "stopped"]
TRIAL_STATES = ("running", "done", "failed", "stopped")
GOALS = ("maximize", "minimize")
SAMPLER_KINDS = ("grid", "random", "bayesian")

# Re-draws of a discrete random sample that hit a tried set before picking among untried ones.
_REDRAWS = 32
# Normal-family ranges TPE sees, in standard deviations either side of mu.
_NORMAL_SPAN = 4.0


@dataclass(frozen=True)
class Trial:
    """One trial of a sweep as the sampler sees it.

    value: the primary metric (its best or last value, as the sweep decides); None while running
    or when no metric came. step: the step of that value, used for trials stopped early.
    """

    params: dict = field(hash=False)
    value: float | None = None
    state: TrialState = "done"
    step: int | None = None

    def __post_init__(self):
        if self.state not in TRIAL_STATES:
            raise ValueError(f"A trial's state is one of {', '.join(TRIAL_STATES)}, not {self.state!r}.")

    @property
    def has_value(self) -> bool:
        return (
            self.state in ("done", "stopped")
            and isinstance(self.value, int | float)
            and not isinstance(self.value, bool)
            and math.isfinite(self.value)
        )


def check_goal(goal: str) -> str:
    if goal not in GOALS:
        raise ValueError(f"The goal is 'maximize' or 'minimize', not {goal!r}.")
    return goal


class Sampler:
    kind: str = ""

    def __init__(self, space: Space, *, seed: int | None = None, goal: str = "maximize"):
        self.space = parse_space(space)
        # No seed: draw one, which the orchestrator can store (sampler.seed) to resume the same way.
        self.seed = secrets.randbelow(2**31) if seed is None else int(seed)
        self.goal = check_goal(goal)

    @property
    def max_trials(self) -> int | None:
        """How many distinct trials the sampler can give; None for no limit."""
        return None

    def suggest(self, n: int, trials: list[Trial]) -> list[dict]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed}, goal={self.goal!r}, space={self.space!r})"


class GridSampler(Sampler):
    kind = "grid"

    def __init__(self, space: Space, *, seed: int | None = None, goal: str = "maximize"):
        super().__init__(space, seed=seed, goal=goal)
        self._grid = self.space.grid()  # SpaceError when a parameter is not discrete

    @property
    def max_trials(self) -> int:
        return len(self._grid)

    def suggest(self, n: int, trials: list[Trial]) -> list[dict]:
        used = _used_keys(self.space, trials)
        out: list[dict] = []
        for params in self._grid:
            if len(out) >= n:
                break
            if self.space.key(params) not in used:
                out.append(dict(params))
        return out


class RandomSampler(Sampler):
    kind = "random"

    def suggest(self, n: int, trials: list[Trial]) -> list[dict]:
        return _random_suggestions(self.space, self.seed, trials, n)


class BayesianSampler(Sampler):
    kind = "bayesian"

    def __init__(
        self, space: Space, *, seed: int | None = None, goal: str = "maximize", startup_trials: int = 10
    ):
        super().__init__(space, seed=seed, goal=goal)
        if isinstance(startup_trials, bool) or not isinstance(startup_trials, int) or startup_trials < 1:
            raise ValueError(f"startup_trials is a whole number of at least 1, not {startup_trials!r}.")
        self.startup_trials = startup_trials
        self._params = {name: _optuna_param(d) for name, d in self.space.distributions.items()}

    def suggest(self, n: int, trials: list[Trial]) -> list[dict]:
        if n <= 0:
            return []
        fitting = [t for t in trials if self.space.contains(t.params)]
        if sum(t.has_value for t in fitting) < self.startup_trials:
            return _random_suggestions(self.space, self.seed, trials, n)
        return self._ask(n, trials, fitting)

    def _ask(self, n: int, trials: list[Trial], fitting: list[Trial]) -> list[dict]:
        optuna = _optuna()
        sampler = optuna.samplers.TPESampler(
            seed=(self.seed + len(trials)) % 2**32, n_startup_trials=self.startup_trials, constant_liar=True
        )
        study = optuna.create_study(direction=self.goal, sampler=sampler)
        distributions = {name: p.distribution for name, p in self._params.items()}
        running = []
        for trial in fitting:
            if trial.state == "running":
                running.append(trial)
            elif trial.has_value:
                pruned = trial.state == "stopped"
                study.add_trial(
                    optuna.trial.create_trial(
                        state=optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.COMPLETE,
                        value=None if pruned else float(trial.value),
                        intermediate_values={trial.step or 0: float(trial.value)} if pruned else None,
                        params=self._encode(trial.params),
                        distributions=distributions,
                    )
                )
        for trial in running:
            # An enqueued trial that is asked for becomes RUNNING with exactly these parameters.
            study.enqueue_trial(self._encode(trial.params), skip_if_exists=False)
            study.ask(distributions)

        used = _used_keys(self.space, trials)
        exhausted = self.space.is_discrete and len(used) >= (self.space.grid_size or 0)
        out: list[dict] = []
        for index in range(n):
            params = self._decode(study.ask(distributions).params)
            if self.space.is_discrete and not exhausted:
                # TPE may propose a tried set; asking again sees it as running (the constant liar).
                for _ in range(_REDRAWS):
                    if self.space.key(params) not in used:
                        break
                    params = self._decode(study.ask(distributions).params)
                if self.space.key(params) in used:
                    params = _draw(self.space, self.seed, len(trials) + index, used)
            out.append(params)
            used.add(self.space.key(params))
            exhausted = exhausted or (self.space.is_discrete and len(used) >= (self.space.grid_size or 0))
        return out

    def _encode(self, params: dict) -> dict:
        normalized = {normalize_name(name): value for name, value in params.items()}
        return {name: p.encode(normalized[name]) for name, p in self._params.items()}

    def _decode(self, values: dict) -> dict:
        return {name: p.decode(values[name]) for name, p in self._params.items()}


_SAMPLERS: dict[str, type[Sampler]] = {
    "grid": GridSampler,
    "random": RandomSampler,
    "bayesian": BayesianSampler,
}


def make_sampler(
    kind: str,
    space: Space | dict,
    *,
    seed: int | None = None,
    goal: str = "maximize",
    startup_trials: int = 10,
) -> Sampler:
    """The sampler of a kind ("grid", "random" or "bayesian") for a space.

    startup_trials only matters to "bayesian": how many trials need a value before TPE takes over
    from random draws (Optuna's n_startup_trials).
    """
    key = kind.lower() if isinstance(kind, str) else kind
    if key not in _SAMPLERS:
        raise ValueError(f"Unknown sampling {kind!r}; use one of {', '.join(SAMPLER_KINDS)}.")
    if key == "bayesian":
        return BayesianSampler(space, seed=seed, goal=goal, startup_trials=startup_trials)
    return _SAMPLERS[key](space, seed=seed, goal=goal)


def _used_keys(space: Space, trials: list[Trial]) -> set[tuple]:
    return {key for trial in trials if (key := space.key(trial.params)) is not None}


def _trial_rng(seed: int, index: int) -> random.Random:
    # A string seed is hashed with SHA-512 by random.seed: stable across processes and versions.
    return random.Random(f"sweep:{seed}:{index}")  # noqa: S311 - reproducible draws, not secrets


def _random_suggestions(space: Space, seed: int, trials: list[Trial], n: int) -> list[dict]:
    used = _used_keys(space, trials) if space.is_discrete else set()
    out = []
    for index in range(len(trials), len(trials) + max(n, 0)):
        params = _draw(space, seed, index, used)
        out.append(params)
        if space.is_discrete:
            used.add(space.key(params))
    return out


def _draw(space: Space, seed: int, index: int, used: set[tuple]) -> dict:
    """The index-th trial's random draw; on a discrete space, an untried set while any remain."""
    rng = _trial_rng(seed, index)
    params = space.sample(rng)
    if not space.is_discrete or space.key(params) not in used:
        return params
    size = space.grid_size or 0
    if len(used) >= size:
        return params  # every set was tried: repeats are all that is left
    for _ in range(_REDRAWS):
        params = space.sample(rng)
        if space.key(params) not in used:
            return params
    try:
        untried = [p for p in space.grid() if space.key(p) not in used]
    except SpaceError:
        return params  # too large to list; a repeat in so large a space is rare
    return rng.choice(untried)


@dataclass(frozen=True)
class _OptunaParam:
    distribution: Any
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _optuna_param(d: Distribution) -> _OptunaParam:
    """How one distribution is shown to Optuna: its distribution, and the maps to and from it."""
    distributions = _optuna().distributions
    f = dict(d.fields)
    kind = d.type
    if kind == "choice":
        choices = list(f["values"])
        return _OptunaParam(
            distributions.CategoricalDistribution(choices),
            lambda v: choices[d.canonical(v)],
            lambda x: x,
        )
    if kind == "randint":
        return _OptunaParam(distributions.IntDistribution(0, f["upper"] - 1), int, int)

    if kind in ("uniform", "quniform"):
        low, high, log = f["low"], f["high"], False
    elif kind in ("loguniform", "qloguniform"):
        low, high, log = math.exp(f["low"]), math.exp(f["high"]), True
    else:
        low, high = f["mu"] - _NORMAL_SPAN * f["sigma"], f["mu"] + _NORMAL_SPAN * f["sigma"]
        log = kind in ("lognormal", "qlognormal")
        if log:
            low, high = math.exp(low), math.exp(high)

    if kind in ("quniform", "qnormal"):
        # Integer multiples of q: TPE works on the multiplier k, exact on the grid of values.
        q = f["q"]
        k_low, k_high = round(low / q), round(high / q)
        return _OptunaParam(
            distributions.IntDistribution(k_low, k_high),
            lambda v: min(max(round(float(v) / q), k_low), k_high),
            lambda k: quantize(k * q, q),
        )

    def clamp(value: Any) -> float:
        return min(max(float(value), low), high)

    decode = (lambda x: quantize(x, f["q"])) if kind.startswith("q") else float
    return _OptunaParam(distributions.FloatDistribution(low, high, log=log), clamp, decode)


def _optuna():
    # Imported on first use: it is only needed by Bayesian sampling, and slow to import.
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna
