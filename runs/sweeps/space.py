"""STAND-IN for the sweep-core branch's search space (dropped at its merge)."""

import itertools
import math
from dataclasses import dataclass


class SpaceError(ValueError):
    pass


ARGS = {
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


def choice(*values):
    if len(values) == 1 and isinstance(values[0], list | tuple):
        values = values[0]
    return {"type": "choice", "values": list(values)}


def randint(upper):
    return {"type": "randint", "upper": upper}


def uniform(low, high):
    return {"type": "uniform", "low": low, "high": high}


def quniform(low, high, q):
    return {"type": "quniform", "low": low, "high": high, "q": q}


def loguniform(low, high):
    return {"type": "loguniform", "low": low, "high": high}


def qloguniform(low, high, q):
    return {"type": "qloguniform", "low": low, "high": high, "q": q}


def normal(mu, sigma):
    return {"type": "normal", "mu": mu, "sigma": sigma}


def qnormal(mu, sigma, q):
    return {"type": "qnormal", "mu": mu, "sigma": sigma, "q": q}


def lognormal(mu, sigma):
    return {"type": "lognormal", "mu": mu, "sigma": sigma}


def qlognormal(mu, sigma, q):
    return {"type": "qlognormal", "mu": mu, "sigma": sigma, "q": q}


@dataclass
class Space:
    dims: dict

    @property
    def names(self):
        return list(self.dims)

    @property
    def is_discrete(self):
        return all(d["type"] in ("choice", "randint") for d in self.dims.values())

    def grid(self):
        if not self.is_discrete:
            raise SpaceError("Grid sampling takes choice() and randint() parameters only.")
        axes = [
            d["values"] if d["type"] == "choice" else list(range(int(d["upper"]))) for d in self.dims.values()
        ]
        return [dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*axes)]

    def sample(self, rng):
        out = {}
        for name, d in self.dims.items():
            t = d["type"]
            if t == "choice":
                out[name] = d["values"][rng.randrange(len(d["values"]))]
            elif t == "randint":
                out[name] = rng.randrange(int(d["upper"]))
            elif t in ("uniform", "quniform"):
                v = rng.uniform(d["low"], d["high"])
                out[name] = round(v / d["q"]) * d["q"] if t == "quniform" else v
            elif t in ("loguniform", "qloguniform"):
                v = math.exp(rng.uniform(d["low"], d["high"]))
                out[name] = round(v / d["q"]) * d["q"] if t == "qloguniform" else v
            elif t in ("normal", "qnormal"):
                v = rng.gauss(d["mu"], d["sigma"])
                out[name] = round(v / d["q"]) * d["q"] if t == "qnormal" else v
            else:
                v = math.exp(rng.gauss(d["mu"], d["sigma"]))
                out[name] = round(v / d["q"]) * d["q"] if t == "qlognormal" else v
        return out

    def to_json(self):
        return dict(self.dims)

    def arguments(self, params):
        args = []
        for name in self.names:
            args += [name, str(params[name])]
        return args


def parse_space(spec):
    if not isinstance(spec, dict) or not spec:
        raise SpaceError("The search space needs at least one parameter.")
    dims = {}
    for name, d in spec.items():
        if not isinstance(name, str) or not name.startswith("-"):
            raise SpaceError(f"Parameter {name!r}: name it as the script's option, e.g. --alpha.")
        if not isinstance(d, dict) or d.get("type") not in ARGS:
            raise SpaceError(f"Parameter {name}: the distribution must be one of {', '.join(ARGS)}.")
        for arg in ARGS[d["type"]]:
            if arg not in d:
                raise SpaceError(f"Parameter {name}: {d['type']} needs {arg}.")
        if d["type"] == "choice":
            if not isinstance(d["values"], list) or not d["values"]:
                raise SpaceError(f"Parameter {name}: choice needs at least one value.")
        else:
            try:
                for arg in ARGS[d["type"]]:
                    float(d[arg])
            except (TypeError, ValueError):
                raise SpaceError(f"Parameter {name}: {d['type']}'s arguments must be numbers.") from None
            if "low" in d and float(d["low"]) >= float(d["high"]):
                raise SpaceError(f"Parameter {name}: low must be below high.")
            if d["type"] == "randint" and int(d["upper"]) < 1:
                raise SpaceError(f"Parameter {name}: randint needs an upper bound of at least 1.")
        dims[name] = {"type": d["type"], **{arg: d[arg] for arg in ARGS[d["type"]]}}
    return Space(dims)
