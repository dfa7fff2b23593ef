"""Early-termination policies: which running children of a sweep to stop, from their metric streams.

``policy.evaluate(streams, goal, finished)`` takes every child's primary-metric points
``[(step, value), ...]`` (finished children's too: they count as the runs compared against) and
returns ``{child_id: reason}`` for the running children to stop. It is a pure function of what it is
given, so it may be called on every metric that arrives, or on a beat, in any worker, and it gives
the same answer; a child it stopped is left out next time by passing it in ``finished``.

A step is the metric's step as the run logged it (or its position in the stream when it logged
none); in the cloud service's words each logged value is one "interval". A policy looks at the steps
``s >= delay_evaluation`` with ``(s - delay_evaluation) % evaluation_interval == 0``. A child is
checked at each such step it reported, earliest first, against the other children's values at the
same step, so a child that ran ahead is still judged once slower children reach its steps; the first
step that fails it is the one named in the reason. Non-finite values are ignored; when a child
logged a step twice its last value counts.

- bandit: at step s, with best the best value any child reported at s, a child whose value at s is
  worse than best / (1 + slack_factor) (maximize; best * (1 + slack_factor) when minimizing), or
  than best - slack_amount (best + slack_amount), is stopped. As in the cloud service, the factor
  form assumes a positive metric.
- median: at step s, a child whose best value up to s is worse than the median of the running
  averages (mean of the values up to s) of every child that reached s is stopped.
- truncation: at step s, among the N children that reported s, the worst
  floor(N * truncation_percentage / 100) are stopped; a child is in that lowest group when the
  children at least as bad as it, itself included, are no more than that many (ties stay).
- none: never stops anything.
"""

from __future__ import annotations

import inspect
import math
import statistics
from collections.abc import Iterable

GOALS = ("maximize", "minimize")
POLICY_KINDS = ("bandit", "median", "truncation", "none")

Streams = dict[str, list[tuple[int, float]]]


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _check_goal(goal: str) -> str:
    if goal not in GOALS:
        raise ValueError(f"The goal is 'maximize' or 'minimize', not {goal!r}.")
    return goal


def _whole(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        raise ValueError(f"{name} is a whole number, not {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value!r}.")
    return int(value)


def _positive(name: str, value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} is a number greater than 0, not {value!r}.")
    return float(value)


def _clean(points: Iterable) -> dict[int, float]:
    """A child's points as {step: value}, in step order, non-finite values left out, last one per step."""
    by_step: dict[int, float] = {}
    for step, value in points:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        by_step[int(step)] = float(value)
    return dict(sorted(by_step.items()))


class Policy:
    """The base: which steps are evaluated; subclasses say whether a child fails at a step."""

    kind = "none"
    title = "no"

    def __init__(self, *, evaluation_interval: int = 1, delay_evaluation: int = 0):
        self.evaluation_interval = _whole("evaluation_interval", evaluation_interval, 1)
        self.delay_evaluation = _whole("delay_evaluation", delay_evaluation, 0)

    def is_evaluation_step(self, step: int) -> bool:
        return (
            step >= self.delay_evaluation and (step - self.delay_evaluation) % self.evaluation_interval == 0
        )

    def evaluate(self, streams: Streams, goal: str, finished: Iterable[str] = frozenset()) -> dict[str, str]:
        """{child_id: reason} for each running child (not in finished) that the policy stops now."""
        goal = _check_goal(goal)
        finished = set(finished)
        clean = {child: _clean(points) for child, points in streams.items()}
        stops: dict[str, str] = {}
        for child in sorted(clean):
            if child in finished:
                continue
            for step in clean[child]:
                if not self.is_evaluation_step(step):
                    continue
                reason = self._check(child, step, clean, goal)
                if reason:
                    stops[child] = f"Stopped by the {self.title} policy at step {step}: {reason}"
                    break
        return stops

    def _check(self, child: str, step: int, streams: dict[str, dict[int, float]], goal: str) -> str | None:
        return None

    def to_json(self) -> dict:
        """The kind and options; make_policy(**policy.to_json()) builds the same policy."""
        return {
            "kind": self.kind,
            "evaluation_interval": self.evaluation_interval,
            "delay_evaluation": self.delay_evaluation,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json()!r})"


class NoPolicy(Policy):
    def evaluate(self, streams: Streams, goal: str, finished: Iterable[str] = frozenset()) -> dict[str, str]:
        _check_goal(goal)
        return {}


class BanditPolicy(Policy):
    kind = "bandit"
    title = "bandit"

    def __init__(
        self,
        *,
        slack_factor: float | None = None,
        slack_amount: float | None = None,
        evaluation_interval: int = 1,
        delay_evaluation: int = 0,
    ):
        super().__init__(evaluation_interval=evaluation_interval, delay_evaluation=delay_evaluation)
        if (slack_factor is None) == (slack_amount is None):
            raise ValueError("The bandit policy takes one of slack_factor and slack_amount.")
        self.slack_factor = None if slack_factor is None else _positive("slack_factor", slack_factor)
        self.slack_amount = None if slack_amount is None else _positive("slack_amount", slack_amount)

    def _check(self, child, step, streams, goal):
        value = streams[child][step]
        at_step = [points[step] for points in streams.values() if step in points]
        best = max(at_step) if goal == "maximize" else min(at_step)
        if self.slack_factor is not None:
            if goal == "maximize":
                limit, text = (
                    best / (1 + self.slack_factor),
                    f"best {_fmt(best)} / (1 + {_fmt(self.slack_factor)})",
                )
            else:
                limit, text = (
                    best * (1 + self.slack_factor),
                    f"best {_fmt(best)} * (1 + {_fmt(self.slack_factor)})",
                )
        elif goal == "maximize":
            limit, text = best - self.slack_amount, f"best {_fmt(best)} - {_fmt(self.slack_amount)}"
        else:
            limit, text = best + self.slack_amount, f"best {_fmt(best)} + {_fmt(self.slack_amount)}"
        if goal == "maximize" and value < limit:
            return f"{_fmt(value)} < {text}"
        if goal == "minimize" and value > limit:
            return f"{_fmt(value)} > {text}"
        return None

    def to_json(self) -> dict:
        options = {"slack_factor": self.slack_factor} if self.slack_factor is not None else {}
        options |= {"slack_amount": self.slack_amount} if self.slack_amount is not None else {}
        return super().to_json() | options


class MedianStoppingPolicy(Policy):
    kind = "median"
    title = "median stopping"

    def _check(self, child, step, streams, goal):
        pick = max if goal == "maximize" else min
        best_so_far = pick(v for s, v in streams[child].items() if s <= step)
        averages = []
        for points in streams.values():
            if points and max(points) >= step:
                upto = [v for s, v in points.items() if s <= step]
                if upto:
                    averages.append(statistics.fmean(upto))
        median = statistics.median(averages)
        worse = best_so_far < median if goal == "maximize" else best_so_far > median
        if not worse:
            return None
        sign = "<" if goal == "maximize" else ">"
        return (
            f"best so far {_fmt(best_so_far)} {sign} median {_fmt(median)} "
            f"of the running averages of {len(averages)} runs"
        )


class TruncationSelectionPolicy(Policy):
    kind = "truncation"
    title = "truncation selection"

    def __init__(
        self, *, truncation_percentage: int, evaluation_interval: int = 1, delay_evaluation: int = 0
    ):
        super().__init__(evaluation_interval=evaluation_interval, delay_evaluation=delay_evaluation)
        self.truncation_percentage = _whole("truncation_percentage", truncation_percentage, 1)
        if self.truncation_percentage > 99:
            raise ValueError(f"truncation_percentage is between 1 and 99, not {truncation_percentage!r}.")

    def _check(self, child, step, streams, goal):
        value = streams[child][step]
        at_step = [points[step] for points in streams.values() if step in points]
        cut = len(at_step) * self.truncation_percentage // 100
        # The children at least as bad as this one, itself included.
        as_bad = sum((v <= value) if goal == "maximize" else (v >= value) for v in at_step)
        if as_bad > cut:
            return None
        return f"{_fmt(value)} is in the lowest {self.truncation_percentage}% of {len(at_step)} runs at that step"

    def to_json(self) -> dict:
        return super().to_json() | {"truncation_percentage": self.truncation_percentage}


_POLICIES: dict[str, type[Policy]] = {
    "bandit": BanditPolicy,
    "median": MedianStoppingPolicy,
    "truncation": TruncationSelectionPolicy,
    "none": NoPolicy,
}


def make_policy(kind: str, **options) -> Policy:
    """The policy of a kind ("bandit", "median", "truncation" or "none") with its options.

    bandit: slack_factor or slack_amount, evaluation_interval=1, delay_evaluation=0;
    median: evaluation_interval=1, delay_evaluation=0;
    truncation: truncation_percentage, evaluation_interval=1, delay_evaluation=0;
    none: nothing (an evaluation_interval or delay_evaluation given is accepted and unused).
    """
    key = kind.lower() if isinstance(kind, str) else kind
    if key not in _POLICIES:
        raise ValueError(f"Unknown early-termination policy {kind!r}; use one of {', '.join(POLICY_KINDS)}.")
    parameters = inspect.signature(_POLICIES[key].__init__).parameters
    takes = [name for name in parameters if name != "self"]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise ValueError(
            f"The {key} policy takes {', '.join(takes) or 'no options'}; unknown: {', '.join(unknown)}."
        )
    missing = [
        name for name in takes if parameters[name].default is inspect.Parameter.empty and name not in options
    ]
    if missing:
        raise ValueError(f"The {key} policy needs {', '.join(missing)}.")
    return _POLICIES[key](**options)
