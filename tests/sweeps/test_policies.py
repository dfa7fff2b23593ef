import pytest

from runs.sweeps.policies import make_policy


def streams(**values):
    """Each child's values at steps 0, 1, 2, ... (None: no point at that step)."""
    return {child: [(step, v) for step, v in enumerate(vs) if v is not None] for child, vs in values.items()}


def stop_steps(stops):
    """{child: step} read back from the reasons."""
    return {child: int(reason.split(" at step ")[1].split(":")[0]) for child, reason in stops.items()}


def test_evaluation_steps_follow_the_delay_and_the_interval():
    policy = make_policy("median", evaluation_interval=3, delay_evaluation=5)
    assert [s for s in range(15) if policy.is_evaluation_step(s)] == [5, 8, 11, 14]
    assert [s for s in range(4) if make_policy("median").is_evaluation_step(s)] == [0, 1, 2, 3]


# ---- bandit -------------------------------------------------------------------------------------

# At step 0 a would fail (0.5 < 0.9 / 1.1) and at step 2 b would (0.6 < 0.81 / 1.1), but with a delay
# of 1 and an interval of 2 only steps 1, 3 and 5 are evaluated:
#   step 1: best 0.80, limit 0.727: c (0.70) stops; b (0.76) stays.
#   step 3: best 0.83, limit 0.755: b (0.74) stops.
BANDIT_MAX = streams(
    a=[0.50, 0.80, 0.81, 0.83, 0.84, 0.85],
    b=[0.90, 0.76, 0.60, 0.74, 0.80, 0.80],
    c=[0.10, 0.70, 0.90],
)


def test_bandit_slack_factor_maximize():
    policy = make_policy("bandit", slack_factor=0.1, evaluation_interval=2, delay_evaluation=1)
    stops = policy.evaluate(BANDIT_MAX, "maximize")
    assert stop_steps(stops) == {"c": 1, "b": 3}
    assert stops["b"] == "Stopped by the bandit policy at step 3: 0.74 < best 0.83 / (1 + 0.1)"
    assert stops["c"] == "Stopped by the bandit policy at step 1: 0.7 < best 0.8 / (1 + 0.1)"


def test_bandit_without_delay_judges_step_0():
    stops = make_policy("bandit", slack_factor=0.1).evaluate(BANDIT_MAX, "maximize")
    assert stop_steps(stops) == {"a": 0, "b": 2, "c": 0}


def test_finished_children_count_but_are_not_stopped():
    policy = make_policy("bandit", slack_factor=0.1, evaluation_interval=2, delay_evaluation=1)
    assert stop_steps(policy.evaluate(BANDIT_MAX, "maximize", finished={"c"})) == {"b": 3}
    # a finished and is the best at step 3: b is still judged against it.
    assert stop_steps(policy.evaluate(BANDIT_MAX, "maximize", finished={"a", "c"})) == {"b": 3}


def test_bandit_slack_amount_minimize():
    # Losses; delay 2, interval 1: steps 2 and 3 are evaluated.
    #   step 2: best 0.40, limit 0.45: b (0.50) stops; c (0.44) stays.
    #   step 3: best 0.30, limit 0.35: c (0.36) stops.
    data = streams(a=[1.0, 0.5, 0.40, 0.30], b=[0.4, 0.6, 0.50, 0.33], c=[0.9, 0.9, 0.44, 0.36])
    stops = make_policy("bandit", slack_amount=0.05, delay_evaluation=2).evaluate(data, "minimize")
    assert stop_steps(stops) == {"b": 2, "c": 3}
    assert stops["b"] == "Stopped by the bandit policy at step 2: 0.5 > best 0.4 + 0.05"


def test_bandit_slack_factor_minimize_and_slack_amount_maximize():
    data = streams(a=[1.0, 1.0], b=[1.05, 1.2], c=[1.2, 1.0])
    stops = make_policy("bandit", slack_factor=0.1).evaluate(data, "minimize")
    assert stops == {
        "b": "Stopped by the bandit policy at step 1: 1.2 > best 1 * (1 + 0.1)",
        "c": "Stopped by the bandit policy at step 0: 1.2 > best 1 * (1 + 0.1)",
    }
    # Maximize: the best is 1.2 at both steps, the limit 1.1.
    stops = make_policy("bandit", slack_amount=0.1).evaluate(data, "maximize")
    assert stop_steps(stops) == {"a": 0, "b": 0, "c": 1}
    assert stops["b"] == "Stopped by the bandit policy at step 0: 1.05 < best 1.2 - 0.1"


def test_a_child_that_ran_ahead_is_judged_when_others_reach_its_steps():
    policy = make_policy("bandit", slack_factor=0.1, evaluation_interval=5)
    fast = {"fast": [(s, 0.5) for s in range(21)]}
    assert policy.evaluate(fast | {"slow": [(0, 0.5), (3, 0.9)]}, "maximize") == {}
    stops = policy.evaluate(fast | {"slow": [(0, 0.5), (3, 0.9), (5, 0.9)]}, "maximize")
    assert stop_steps(stops) == {"fast": 5}


# ---- median -------------------------------------------------------------------------------------

# Running averages: step 0: a 0.2, b 0.4, c 0.1, d 0.9; step 1: a 0.3, b 0.45, c 0.15 (d did not
# reach step 1); step 2: a 0.4, b 0.533, c 0.2.
MEDIAN_MAX = streams(a=[0.2, 0.4, 0.6], b=[0.4, 0.5, 0.7], c=[0.1, 0.2, 0.3], d=[0.9])


def test_median_maximize_with_delay():
    # Step 1: median of (0.3, 0.45, 0.15) is 0.3; c's best so far 0.2 < 0.3.
    stops = make_policy("median", delay_evaluation=1).evaluate(MEDIAN_MAX, "maximize")
    assert stops == {
        "c": "Stopped by the median stopping policy at step 1: best so far 0.2 < median 0.3 "
        "of the running averages of 3 runs"
    }
    # Delay 2: step 2, median of (0.4, 0.533, 0.2) is 0.4; c's best 0.3 < 0.4.
    assert stop_steps(make_policy("median", delay_evaluation=2).evaluate(MEDIAN_MAX, "maximize")) == {"c": 2}


def test_median_maximize_with_interval():
    # Steps 0 and 2. Step 0: median of (0.2, 0.4, 0.1, 0.9) is 0.3: a (0.2) and c (0.1) stop.
    stops = make_policy("median", evaluation_interval=2).evaluate(MEDIAN_MAX, "maximize")
    assert stop_steps(stops) == {"a": 0, "c": 0}
    assert "of the running averages of 4 runs" in stops["a"]
    # With d finished and a already stopped, only c is returned.
    assert stop_steps(
        make_policy("median", evaluation_interval=2).evaluate(MEDIAN_MAX, "maximize", finished={"a", "d"})
    ) == {"c": 0}


def test_median_minimize():
    # Step 1: running averages a 0.7, b 0.55, c 0.85: median 0.7; c's best so far 0.8 > 0.7.
    data = streams(a=[0.8, 0.6, 0.4], b=[0.6, 0.5, 0.3], c=[0.9, 0.8, 0.7])
    stops = make_policy("median", delay_evaluation=1).evaluate(data, "minimize")
    assert stops == {
        "c": "Stopped by the median stopping policy at step 1: best so far 0.8 > median 0.7 "
        "of the running averages of 3 runs"
    }


def test_median_never_stops_a_lone_run():
    assert make_policy("median").evaluate(streams(a=[0.1, 0.0, 0.0]), "maximize") == {}


# ---- truncation ---------------------------------------------------------------------------------

TRUNCATION = streams(
    a=[0.1, 0.9, 0.9],
    b=[0.2, 0.8, 0.8],
    c=[0.3, 0.7, 0.75],
    d=[0.4, 0.6, 0.5],
    e=[0.5, 0.5, 0.6],
)


def test_truncation_maximize():
    # 25% of 5 runs: the worst 1 at each evaluated step. Step 0 (a worst) is before the delay;
    # step 1: e (0.5); step 2: d (0.5).
    policy = make_policy("truncation", truncation_percentage=25, delay_evaluation=1)
    stops = policy.evaluate(TRUNCATION, "maximize")
    assert stop_steps(stops) == {"e": 1, "d": 2}
    assert (
        stops["e"]
        == "Stopped by the truncation selection policy at step 1: 0.5 is in the lowest 25% of 5 runs at that step"
    )
    # e stopped already: it still counts at step 2, where d is the worst.
    assert stop_steps(policy.evaluate(TRUNCATION, "maximize", finished={"e"})) == {"d": 2}
    # 40% of 5 is 2: at step 1, e and d.
    assert stop_steps(
        make_policy("truncation", truncation_percentage=40, delay_evaluation=1).evaluate(
            TRUNCATION, "maximize"
        )
    ) == {"d": 1, "e": 1}


def test_truncation_minimize_with_interval():
    # Steps 0 and 2 (interval 2). Step 0: the highest loss is e (0.5); step 2: a (0.9).
    policy = make_policy("truncation", truncation_percentage=20, evaluation_interval=2)
    assert stop_steps(policy.evaluate(TRUNCATION, "minimize")) == {"e": 0, "a": 2}


def test_truncation_rounds_down_and_keeps_ties():
    # 25% of 3 runs is 0.75: nobody.
    three = streams(a=[0.1], b=[0.2], c=[0.3])
    assert make_policy("truncation", truncation_percentage=25).evaluate(three, "maximize") == {}
    # Two runs tied for worst with room for one: neither.
    tied = streams(a=[0.1], b=[0.1], c=[0.3], d=[0.4])
    assert make_policy("truncation", truncation_percentage=25).evaluate(tied, "maximize") == {}


# ---- all ----------------------------------------------------------------------------------------


def test_none_stops_nothing():
    assert make_policy("none").evaluate(BANDIT_MAX, "maximize") == {}


def test_points_out_of_order_repeated_or_not_finite():
    # The last value of a repeated step counts; NaN and inf are left out.
    data = {
        "a": [(1, 0.9), (0, 0.8)],
        "b": [(0, 0.1), (0, 0.8), (1, float("nan")), (1, float("inf"))],
    }
    assert make_policy("bandit", slack_factor=0.1).evaluate(data, "maximize") == {}


def test_policies_round_trip_through_json():
    for policy in (
        make_policy("bandit", slack_factor=0.2, evaluation_interval=2, delay_evaluation=3),
        make_policy("bandit", slack_amount=0.5),
        make_policy("median", delay_evaluation=4),
        make_policy("truncation", truncation_percentage=30, evaluation_interval=5),
        make_policy("none"),
    ):
        assert make_policy(**policy.to_json()).to_json() == policy.to_json()


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("asha", {}, "Unknown early-termination policy 'asha'; use one of bandit, median, truncation, none"),
        ("bandit", {}, "one of slack_factor and slack_amount"),
        ("bandit", {"slack_factor": 0.1, "slack_amount": 0.1}, "one of slack_factor and slack_amount"),
        ("bandit", {"slack_factor": 0}, "slack_factor is a number greater than 0"),
        ("bandit", {"slack_factor": 0.1, "evaluation_interval": 0}, "evaluation_interval must be at least 1"),
        ("median", {"delay_evaluation": -1}, "delay_evaluation must be at least 0"),
        ("median", {"evaluation_interval": 1.5}, "evaluation_interval is a whole number"),
        (
            "median",
            {"slack_factor": 0.1},
            "The median policy takes evaluation_interval, delay_evaluation; unknown: slack_factor",
        ),
        ("truncation", {}, "The truncation policy needs truncation_percentage"),
        ("truncation", {"truncation_percentage": 100}, "between 1 and 99"),
        ("truncation", {"truncation_percentage": 0}, "at least 1"),
    ],
)
def test_invalid_policies_say_what_is_wrong(kind, options, message):
    with pytest.raises(ValueError, match=message):
        make_policy(kind, **options)


def test_unknown_goal():
    with pytest.raises(ValueError, match="'maximize' or 'minimize'"):
        make_policy("median").evaluate({}, "max")
