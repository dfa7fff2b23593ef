"""A sweep's search space: script arguments mapped to distributions, as JSON.

A spec maps an argument name ("--alpha"; "alpha" is read as "--alpha") to a distribution::

    {"--alpha": {"type": "loguniform", "low": -6, "high": -1},
     "--kernel": {"type": "choice", "values": ["rbf", "linear"]}}

The distributions and what one draw gives (the cloud SDK's semantics, which follow hyperopt's):

    choice      values              one of the values
    randint     upper               an integer in [0, upper)
    uniform     low, high           uniform in [low, high]
    quniform    low, high, q        round(uniform(low, high) / q) * q
    loguniform  low, high           exp(uniform(low, high)): low and high are EXPONENTS,
                                    loguniform(-6, -1) gives values from e**-6 to e**-1
    qloguniform low, high, q        round(exp(uniform(low, high)) / q) * q
    normal      mu, sigma           normal with mean mu and standard deviation sigma
    qnormal     mu, sigma, q        round(normal(mu, sigma) / q) * q
    lognormal   mu, sigma           exp(normal(mu, sigma))
    qlognormal  mu, sigma, q        round(exp(normal(mu, sigma)) / q) * q

A quantized draw with a whole-number q is an int (quniform(10, 200, 10) gives 50, not 50.0), so a
script reading the argument with ``type=int`` accepts it. Otherwise it is rounded to q's decimals.

The list form the cloud service stores, ``["uniform", [0, 1]]`` or ``["choice", [["a", "b"]]]``,
is read as well; ``to_json`` writes the dict form.

Parameters are kept in sorted name order: a spec that went through PostgreSQL's jsonb (which
reorders keys) gives the same grid, the same samples and the same argument list.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_PARAMETERS = 50
MAX_GRID_POINTS = 100_000
# exp() of more than ~709 overflows a float.
_MAX_EXPONENT = 700.0

# The arguments each distribution takes, in the order the list form gives them.
DISTRIBUTION_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "choice": ("values",),
    "randint": ("upper",),
    "uniform": ("low", "high"),
    "quniform": ("low", "high", "q"),
    "loguniform": ("low", "high"),
    "qloguniform": ("low", "high", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
}
DISTRIBUTION_TYPES = tuple(DISTRIBUTION_ARGUMENTS)
DISCRETE_TYPES = ("choice", "randint")

_NAME_RE = re.compile(r"^--?[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class SpaceError(ValueError):
    """A search space, or a parameter set for it, that cannot be used; the message says why."""


def normalize_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SpaceError(f"A parameter name must be a non-empty string, not {name!r}.")
    normalized = name if name.startswith("-") else f"--{name}"
    if not _NAME_RE.match(normalized):
        raise SpaceError(
            f"Parameter name {name!r} is not a command-line option: use letters, digits, '_', '.' "
            "and '-', like --learning-rate or learning_rate."
        )
    return normalized


def _number(name: str, kind: str, field: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpaceError(f"{name}: {kind} needs {field} to be a number, not {value!r}.")
    if not math.isfinite(value):
        raise SpaceError(f"{name}: {kind} needs a finite {field}, not {value!r}.")
    return value


def _is_whole(value: int | float) -> bool:
    return isinstance(value, int) or float(value).is_integer()


def quantize(value: float, q: int | float) -> int | float:
    """round(value / q) * q, as an int when q is whole, else rounded to q's decimal places."""
    steps = round(value / q)
    if _is_whole(q):
        return int(steps) * int(q)
    exponent = Decimal(repr(float(q))).normalize().as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    # + 0.0 turns -0.0 into 0.0.
    return round(steps * q, decimals) + 0.0


@dataclass(frozen=True)
class Distribution:
    """One parameter's distribution: its type and fields, validated."""

    type: str
    fields: tuple[tuple[str, Any], ...]

    def __getitem__(self, field: str) -> Any:
        return dict(self.fields)[field]

    @property
    def is_discrete(self) -> bool:
        return self.type in DISCRETE_TYPES

    def values(self) -> list:
        """Every value a discrete distribution can give, in order."""
        if self.type == "choice":
            return list(self["values"])
        if self.type == "randint":
            return list(range(self["upper"]))
        raise TypeError(f"{self.type} is not discrete")

    def sample(self, rng: random.Random) -> Any:
        f = dict(self.fields)
        kind = self.type
        if kind == "choice":
            return rng.choice(f["values"])
        if kind == "randint":
            return rng.randrange(f["upper"])
        if kind in ("uniform", "quniform"):
            x = rng.uniform(f["low"], f["high"])
        elif kind in ("loguniform", "qloguniform"):
            x = math.exp(rng.uniform(f["low"], f["high"]))
        elif kind in ("normal", "qnormal"):
            x = rng.normalvariate(f["mu"], f["sigma"])
        else:  # lognormal, qlognormal
            x = math.exp(rng.normalvariate(f["mu"], f["sigma"]))
        return quantize(x, f["q"]) if kind.startswith("q") else x

    def canonical(self, value: Any) -> Any:
        """A hashable stand-in for a value of this distribution, or None if it cannot be one.

        Two values that mean the same draw (1 and 1.0 for randint) give the same stand-in.
        """
        if self.type == "choice":
            for index, choice in enumerate(self["values"]):
                if _same_choice(choice, value):
                    return index
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        if self.type == "randint":
            return int(value) if _is_whole(value) and 0 <= value < self["upper"] else None
        return float(value)

    def to_json(self) -> dict:
        return {"type": self.type, **{k: (list(v) if k == "values" else v) for k, v in self.fields}}


def _parse_distribution(name: str, raw: Any) -> Distribution:
    if isinstance(raw, list | tuple) and len(raw) == 2 and isinstance(raw[0], str):
        raw = _from_list_form(name, raw)
    if not isinstance(raw, dict):
        raise SpaceError(
            f'{name}: a distribution is an object like {{"type": "uniform", "low": 0, "high": 1}}, '
            f"not {raw!r}."
        )
    kind = raw.get("type")
    if kind not in DISTRIBUTION_ARGUMENTS:
        raise SpaceError(
            f"{name}: unknown distribution type {kind!r}; use one of {', '.join(DISTRIBUTION_TYPES)}."
        )
    expected = DISTRIBUTION_ARGUMENTS[kind]
    unknown = sorted(set(raw) - set(expected) - {"type"})
    if unknown:
        raise SpaceError(
            f"{name}: {kind} takes {', '.join(expected)}; unknown field(s) {', '.join(unknown)}."
        )
    missing = [field for field in expected if field not in raw]
    if missing:
        raise SpaceError(f"{name}: {kind} needs {', '.join(expected)}; missing {', '.join(missing)}.")

    if kind == "choice":
        return Distribution(kind, (("values", _choice_values(name, raw["values"])),))
    if kind == "randint":
        upper = _number(name, kind, "upper", raw["upper"])
        if not _is_whole(upper) or upper < 1:
            raise SpaceError(
                f"{name}: randint needs upper to be a whole number of at least 1, not {upper!r}."
            )
        return Distribution(kind, (("upper", int(upper)),))

    values = {field: _number(name, kind, field, raw[field]) for field in expected}
    if "low" in values and not values["low"] < values["high"]:
        raise SpaceError(
            f"{name}: {kind} needs low < high (got low={values['low']!r}, high={values['high']!r})."
        )
    if "sigma" in values and not values["sigma"] > 0:
        raise SpaceError(f"{name}: {kind} needs sigma > 0 (got {values['sigma']!r}).")
    if "q" in values and not values["q"] > 0:
        raise SpaceError(f"{name}: {kind} needs q > 0 (got {values['q']!r}).")
    if kind in ("loguniform", "qloguniform") and (
        values["low"] < -_MAX_EXPONENT or values["high"] > _MAX_EXPONENT
    ):
        raise SpaceError(
            f"{name}: {kind}'s low and high are exponents (loguniform(-6, -1) draws from e**-6 to "
            f"e**-1) and must lie within ±{_MAX_EXPONENT:g}; got low={values['low']!r}, "
            f"high={values['high']!r}."
        )
    if kind in ("lognormal", "qlognormal") and abs(values["mu"]) + 10 * values["sigma"] > _MAX_EXPONENT:
        raise SpaceError(
            f"{name}: {kind} draws exp(normal(mu, sigma)); |mu| + 10 * sigma must stay within "
            f"{_MAX_EXPONENT:g} (got mu={values['mu']!r}, sigma={values['sigma']!r})."
        )
    return Distribution(kind, tuple((field, values[field]) for field in expected))


def _from_list_form(name: str, raw: list | tuple) -> dict:
    kind, args = raw
    if kind not in DISTRIBUTION_ARGUMENTS or not isinstance(args, list | tuple):
        raise SpaceError(
            f'{name}: the list form is ["<type>", [arguments]], with a type among '
            f"{', '.join(DISTRIBUTION_TYPES)}; got {raw!r}."
        )
    if kind == "choice":
        values = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
        return {"type": "choice", "values": list(values)}
    fields = DISTRIBUTION_ARGUMENTS[kind]
    if len(args) != len(fields):
        raise SpaceError(
            f"{name}: {kind} takes {len(fields)} argument(s) ({', '.join(fields)}); got {args!r}."
        )
    return {"type": kind, **dict(zip(fields, args, strict=True))}


def _choice_values(name: str, values: Any) -> tuple:
    if not isinstance(values, list | tuple) or not values:
        raise SpaceError(f"{name}: choice needs a non-empty list of values, not {values!r}.")
    seen: list = []
    for value in values:
        if value is None or not isinstance(value, str | int | float):
            raise SpaceError(
                f"{name}: choice values must be strings, numbers or booleans (they become "
                f"command-line arguments), not {value!r}."
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise SpaceError(f"{name}: choice values must be finite numbers, not {value!r}.")
        if any(_same_choice(value, other) for other in seen):
            raise SpaceError(f"{name}: choice lists {value!r} twice; each value must appear once.")
        seen.append(value)
    return tuple(values)


def _same_choice(a: Any, b: Any) -> bool:
    """Equal as a choice: 1 and 1.0 are the same value, True and 1 are not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def parse_space(spec: dict) -> Space:
    """Validate a JSON search space and return it as a Space; SpaceError says what is wrong."""
    if isinstance(spec, Space):
        return spec
    if not isinstance(spec, dict):
        raise SpaceError(
            f"A search space is an object mapping argument names to distributions, not {spec!r}."
        )
    if not spec:
        raise SpaceError("A search space needs at least one parameter.")
    if len(spec) > MAX_PARAMETERS:
        raise SpaceError(
            f"A search space takes at most {MAX_PARAMETERS} parameters; this one has {len(spec)}."
        )
    distributions: dict[str, Distribution] = {}
    for raw_name, raw in spec.items():
        name = normalize_name(raw_name)
        if name in distributions:
            raise SpaceError(f"Parameter {name} is given twice (as {name} and as {name[2:]}?).")
        distributions[name] = _parse_distribution(name, raw)
    return Space(distributions)


class Space:
    """A validated search space. Build it with parse_space."""

    def __init__(self, distributions: dict[str, Distribution]):
        self.distributions: dict[str, Distribution] = dict(sorted(distributions.items()))

    @property
    def names(self) -> list[str]:
        return list(self.distributions)

    @property
    def is_discrete(self) -> bool:
        return all(d.is_discrete for d in self.distributions.values())

    @property
    def grid_size(self) -> int | None:
        """The number of distinct parameter sets of a discrete space; None if it is not discrete."""
        if not self.is_discrete:
            return None
        return math.prod(len(d.values()) for d in self.distributions.values())

    def grid(self) -> list[dict]:
        """Every parameter set of a discrete space: the cartesian product, first name varying slowest."""
        continuous = [f"{name} ({d.type})" for name, d in self.distributions.items() if not d.is_discrete]
        if continuous:
            raise SpaceError(
                "Grid sampling needs every parameter to be a choice or a randint; "
                f"not discrete: {', '.join(continuous)}. Use random or Bayesian sampling instead."
            )
        size = self.grid_size or 0
        if size > MAX_GRID_POINTS:
            raise SpaceError(
                f"This grid has {size:,} parameter sets; grid sampling takes at most {MAX_GRID_POINTS:,}. "
                "Use fewer values or random sampling."
            )
        names = self.names
        value_lists = [d.values() for d in self.distributions.values()]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*value_lists)]

    def sample(self, rng: random.Random) -> dict:
        """One parameter set drawn from the distributions, in name order (so a seeded rng repeats)."""
        return {name: d.sample(rng) for name, d in self.distributions.items()}

    def key(self, params: dict) -> tuple | None:
        """A hashable identity of a parameter set, equal for equal sets; None if it does not fit this space."""
        normalized = _normalize_keys(params)
        if set(normalized) != set(self.distributions):
            return None
        key = []
        for name, d in self.distributions.items():
            canonical = d.canonical(normalized[name])
            if canonical is None:
                return None
            key.append(canonical)
        return tuple(key)

    def contains(self, params: dict) -> bool:
        """Whether a parameter set names exactly this space's parameters with values each could give.

        Continuous values are only checked to be finite numbers: a warm-start trial from a wider
        range still teaches a Bayesian sampler something.
        """
        return self.key(params) is not None

    def arguments(self, params: dict) -> list[str]:
        """The command-line arguments for a parameter set: ["--alpha", "0.5", "--kernel", "rbf"]."""
        normalized = _normalize_keys(params)
        missing = [name for name in self.names if name not in normalized]
        if missing:
            raise SpaceError(f"No value for {', '.join(missing)}.")
        arguments: list[str] = []
        for name in self.names:
            arguments += [name, render_value(normalized[name])]
        return arguments

    def to_json(self) -> dict:
        return {name: d.to_json() for name, d in self.distributions.items()}

    def __len__(self) -> int:
        return len(self.distributions)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and json.dumps(self.to_json()) == json.dumps(other.to_json())

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json()))

    def __repr__(self) -> str:
        return f"Space({self.to_json()!r})"


def _normalize_keys(params: dict) -> dict:
    return {normalize_name(name): value for name, value in params.items()}


def render_value(value: Any) -> str:
    """A parameter value as one command-line argument: 3 -> "3", 0.5 -> "0.5", True -> "True"."""
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise SpaceError(f"A parameter value must be a string, number or boolean, not {value!r}.")


# The cloud SDK's helper names, returning this module's JSON: defined once, in the SDK
# (pure Python, already the portal's home of the shared snapshot code).
from portal_sdk.train.hyperdrive import (  # noqa: E402, F401
    choice,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)
