"""The SDK's sweep names build the API's sweep request."""

from portal_sdk.train.hyperdrive import (
    BanditPolicy,
    HyperDriveConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    loguniform,
)


def test_config_request():
    from portal_sdk.core.script_run_config import ScriptRunConfig

    config = HyperDriveConfig(
        run_config=object.__new__(ScriptRunConfig),
        hyperparameter_sampling=RandomParameterSampling(
            {"C": loguniform(-3, 2), "--kernel": choice("rbf", "linear")}, properties={"seed": 4}
        ),
        policy=BanditPolicy(slack_factor=0.1, evaluation_interval=2),
        primary_metric_name="accuracy",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=12,
        max_concurrent_runs=3,
    )
    assert config.request() == {
        "space": {
            "--C": {"type": "loguniform", "low": -3, "high": 2},
            "--kernel": {"type": "choice", "values": ["rbf", "linear"]},
        },
        "sampling": "random",
        "seed": 4,
        "primary_metric_name": "accuracy",
        "primary_metric_goal": "maximize",
        "max_total_runs": 12,
        "max_concurrent_runs": 3,
        "max_duration_minutes": None,
        "policy": "bandit",
        "policy_options": {"evaluation_interval": 2, "slack_factor": 0.1, "delay_evaluation": 0},
        "warm_start_from": None,
    }
