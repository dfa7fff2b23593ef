import json
import math
import random

import pytest

from runs.sweeps import space as s
from runs.sweeps.space import SpaceError, parse_space

ALL_TYPES = {
    "--kernel": s.choice("rbf", "linear", 3, 2.5, True),
    "--n-estimators": s.randint(10),
    "--alpha": s.uniform(-1, 1.5),
    "--depth": s.quniform(10, 200, 10),
    "--lr": s.loguniform(-6, -1),
    "--batch": s.qloguniform(1, 5, 8),
    "--noise": s.normal(0, 2),
    "--shift": s.qnormal(1, 0.5, 0.25),
    "--scale": s.lognormal(0, 0.5),
    "--width": s.qlognormal(2, 0.3, 0.5),
}


def test_helpers_give_the_json_distributions():
    assert s.choice(1, 2) == {"type": "choice", "values": [1, 2]}
    assert s.choice([1, 2]) == s.choice(range(1, 3)) == s.choice(1, 2)
    assert s.randint(5) == {"type": "randint", "upper": 5}
    assert s.uniform(0, 1) == {"type": "uniform", "low": 0, "high": 1}
    assert s.quniform(0, 10, 2) == {"type": "quniform", "low": 0, "high": 10, "q": 2}
    assert s.loguniform(-6, -1) == {"type": "loguniform", "low": -6, "high": -1}
    assert s.qloguniform(0, 3, 1) == {"type": "qloguniform", "low": 0, "high": 3, "q": 1}
    assert s.normal(0, 1) == {"type": "normal", "mu": 0, "sigma": 1}
    assert s.qnormal(0, 1, 0.5) == {"type": "qnormal", "mu": 0, "sigma": 1, "q": 0.5}
    assert s.lognormal(0, 1) == {"type": "lognormal", "mu": 0, "sigma": 1}
    assert s.qlognormal(0, 1, 2) == {"type": "qlognormal", "mu": 0, "sigma": 1, "q": 2}


def test_every_type_round_trips_through_json():
    space = parse_space(ALL_TYPES)
    assert space.to_json() == {name: ALL_TYPES[name] for name in sorted(ALL_TYPES)}
    again = parse_space(json.loads(json.dumps(space.to_json())))
    assert again == space
    assert again.to_json() == space.to_json()


def test_names_are_normalized_and_sorted_whatever_the_key_order():
    space = parse_space({"zeta": s.randint(2), "--alpha": s.randint(2), "-b": s.randint(2)})
    assert space.names == ["--alpha", "--zeta", "-b"]
    # PostgreSQL's jsonb reorders keys: the space, its grid and its samples must not change.
    reordered = parse_space(dict(reversed(list(space.to_json().items()))))
    assert reordered.names == space.names
    assert reordered.grid() == space.grid()
    assert reordered.sample(random.Random(4)) == space.sample(random.Random(4))


def test_the_cloud_services_list_form_is_read():
    space = parse_space(
        {"--a": ["choice", [[1, 2, 3]]], "--b": ["uniform", [0, 1]], "--c": ["qnormal", [0, 1, 2]]}
    )
    assert space.to_json() == {"--a": s.choice(1, 2, 3), "--b": s.uniform(0, 1), "--c": s.qnormal(0, 1, 2)}


def test_draws_follow_the_cloud_sdk_semantics():
    space = parse_space(ALL_TYPES)
    rng = random.Random(0)
    draws = [space.sample(rng) for _ in range(2000)]
    assert {d["--kernel"] for d in draws} == {"rbf", "linear", 3, 2.5, True}
    assert {d["--n-estimators"] for d in draws} == set(range(10))
    assert all(-1 <= d["--alpha"] <= 1.5 for d in draws)
    # A whole q gives ints, so a script's type=int accepts them.
    assert {d["--depth"] for d in draws} == set(range(10, 201, 10))
    assert all(type(d["--depth"]) is int for d in draws)
    # loguniform's bounds are exponents.
    lrs = [d["--lr"] for d in draws]
    assert math.exp(-6) <= min(lrs) < math.exp(-5.5) and math.exp(-1.5) < max(lrs) <= math.exp(-1)
    assert all(d["--batch"] % 8 == 0 and math.exp(1) - 4 <= d["--batch"] <= math.exp(5) + 4 for d in draws)
    noise = [d["--noise"] for d in draws]
    assert abs(sum(noise) / len(noise)) < 0.2 and 1.8 < _stdev(noise) < 2.2
    assert all(d["--shift"] * 4 == int(d["--shift"] * 4) for d in draws)
    assert {type(d["--shift"]) for d in draws} == {float}
    logs = [math.log(d["--scale"]) for d in draws]
    assert abs(sum(logs) / len(logs)) < 0.05 and 0.45 < _stdev(logs) < 0.55
    assert all(d["--width"] * 2 == int(d["--width"] * 2) for d in draws)


def _stdev(values):
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def test_quantized_floats_are_rounded_to_q():
    assert s.quantize(0.30000000000000004, 0.1) == 0.3
    assert s.quantize(0.7, 0.25) == 0.75
    assert s.quantize(-0.01, 0.5) == 0.0 and str(s.quantize(-0.01, 0.5)) == "0.0"
    assert s.quantize(57, 10) == 60 and type(s.quantize(57, 10)) is int
    assert s.quantize(57, 10.0) == 60 and type(s.quantize(57, 10.0)) is int


def test_arguments_render_each_value_as_one_argument():
    space = parse_space(
        {"alpha": s.uniform(0, 1), "kernel": s.choice("rbf"), "n": s.randint(5), "flag": s.choice(True)}
    )
    args = space.arguments({"--alpha": 0.5, "kernel": "rbf", "--n": 3, "--flag": True})
    assert args == ["--alpha", "0.5", "--flag", "True", "--kernel", "rbf", "--n", "3"]
    assert space.arguments({"alpha": 1e-05, "kernel": "rbf", "n": 0, "flag": True})[1] == "1e-05"
    with pytest.raises(SpaceError, match="No value for --n"):
        space.arguments({"alpha": 0.5, "kernel": "rbf", "flag": True})


def test_grid_is_the_exact_cartesian_product_in_a_fixed_order():
    space = parse_space({"b": s.choice("x", "y"), "a": s.choice(1, 2, 3), "c": s.randint(2)})
    grid = space.grid()
    assert space.grid_size == len(grid) == 12
    assert grid[:3] == [
        {"--a": 1, "--b": "x", "--c": 0},
        {"--a": 1, "--b": "x", "--c": 1},
        {"--a": 1, "--b": "y", "--c": 0},
    ]
    assert grid[-1] == {"--a": 3, "--b": "y", "--c": 1}
    assert sorted(tuple(p.values()) for p in grid) == sorted(
        (a, b, c) for a in (1, 2, 3) for b in ("x", "y") for c in (0, 1)
    )


def test_grid_names_the_parameters_that_are_not_discrete():
    space = parse_space({"a": s.choice(1, 2), "lr": s.loguniform(-6, -1), "m": s.normal(0, 1)})
    assert not space.is_discrete and space.grid_size is None
    with pytest.raises(SpaceError, match=r"not discrete: --lr \(loguniform\), --m \(normal\)"):
        space.grid()


def test_a_huge_grid_is_refused():
    space = parse_space({f"p{i}": s.randint(10) for i in range(6)})
    with pytest.raises(SpaceError, match="1,000,000 parameter sets"):
        space.grid()


def test_key_and_contains():
    space = parse_space({"a": s.choice(1, "1", True), "n": s.randint(3), "x": s.uniform(0, 1)})
    assert space.key({"--a": 1, "--n": 2, "--x": 0.5}) == (0, 2, 0.5)
    assert space.key({"a": 1.0, "n": 2.0, "x": 7}) == (0, 2, 7.0)  # a warm start from a wider range fits
    assert space.key({"--a": "1", "--n": 2, "--x": 0.5}) == (1, 2, 0.5)
    assert space.key({"--a": True, "--n": 2, "--x": 0.5}) == (2, 2, 0.5)
    assert not space.contains({"--a": 2, "--n": 2, "--x": 0.5})
    assert not space.contains({"--a": 1, "--n": 3, "--x": 0.5})
    assert not space.contains({"--a": 1, "--n": 2})
    assert not space.contains({"--a": 1, "--n": 2, "--x": 0.5, "--y": 1})
    assert not space.contains({"--a": 1, "--n": 2, "--x": float("nan")})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "an object mapping argument names"),
        ({}, "at least one parameter"),
        ({f"p{i}": s.randint(2) for i in range(51)}, "at most 50 parameters; this one has 51"),
        ({"alpha": s.randint(2), "--alpha": s.randint(2)}, "--alpha is given twice"),
        ({"": s.randint(2)}, "non-empty string"),
        ({"two words": s.randint(2)}, "not a command-line option"),
        ({"a": 3}, "a distribution is an object"),
        (
            {"a": {"type": "gaussian", "mu": 0}},
            "unknown distribution type 'gaussian'; use one of choice, randint",
        ),
        ({"a": {"type": "uniform", "low": 0}}, "uniform needs low, high; missing high"),
        ({"a": {"type": "uniform", "low": 0, "high": 1, "hi": 2}}, "unknown field"),
        ({"a": s.uniform(1, 1)}, r"--a: uniform needs low < high \(got low=1, high=1\)"),
        ({"a": s.uniform(2, 1)}, "needs low < high"),
        ({"a": s.uniform("0", 1)}, "needs low to be a number, not '0'"),
        ({"a": s.uniform(True, 2)}, "needs low to be a number"),
        ({"a": s.uniform(0, float("inf"))}, "finite high"),
        ({"a": s.quniform(0, 1, 0)}, r"needs q > 0 \(got 0\)"),
        ({"a": s.qnormal(0, 1, -1)}, "needs q > 0"),
        ({"a": s.normal(0, 0)}, "needs sigma > 0"),
        ({"a": s.loguniform(-1000, 0)}, "low and high are exponents"),
        ({"a": s.lognormal(0, 100)}, r"\|mu\| \+ 10 \* sigma"),
        ({"a": s.randint(0)}, "randint needs upper to be a whole number of at least 1"),
        ({"a": s.randint(2.5)}, "whole number"),
        ({"a": s.choice()}, "non-empty list of values"),
        ({"a": {"type": "choice", "values": "abc"}}, "non-empty list of values"),
        ({"a": s.choice(1, None)}, "strings, numbers or booleans"),
        ({"a": s.choice(1, [2])}, "strings, numbers or booleans"),
        ({"a": s.choice(1, float("nan"))}, "finite numbers"),
        ({"a": s.choice(1, 1.0)}, "lists 1.0 twice"),
        ({"a": ["uniform", [0]]}, r"uniform takes 2 argument\(s\)"),
        ({"a": ["beta", [0, 1]]}, "the list form"),
    ],
)
def test_invalid_spaces_say_what_is_wrong(spec, message):
    with pytest.raises(SpaceError, match=message):
        parse_space(spec)


def test_true_and_1_are_different_choices():
    assert parse_space({"a": s.choice(1, True, "1")}).distributions["--a"].values() == [1, True, "1"]
