"""Hyperparameter sweeps, under the cloud SDK's names (``azureml.train.hyperdrive``).

    from portal_sdk.train.hyperdrive import (HyperDriveConfig, RandomParameterSampling,
        BanditPolicy, PrimaryMetricGoal, choice, loguniform)

    config = HyperDriveConfig(run_config=ScriptRunConfig(...),
        hyperparameter_sampling=RandomParameterSampling({"--C": loguniform(-3, 2), "--kernel": choice("rbf", "linear")}),
        policy=BanditPolicy(slack_factor=0.1), primary_metric_name="accuracy",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=12, max_concurrent_runs=3)
    run = experiment.submit(config)
    run.wait_for_completion()
    best = run.get_best_run_by_primary_metric()

The portal checks the space, the sampling and the policy (the same rules as its pages)."""

from __future__ import annotations

import enum
from typing import Any

from ...core.run import Run
from ...core.script_run_config import ScriptRunConfig

# ---- distributions: the JSON the portal's search space takes ------------------------------------


def choice(*options: Any) -> dict:
    if len(options) == 1 and isinstance(options[0], list | tuple | range):
        options = tuple(options[0])
    return {"type": "choice", "values": list(options)}


def randint(upper: int) -> dict:
    return {"type": "randint", "upper": upper}


def uniform(min_value: float, max_value: float) -> dict:
    return {"type": "uniform", "low": min_value, "high": max_value}


def quniform(min_value: float, max_value: float, q: float) -> dict:
    return {"type": "quniform", "low": min_value, "high": max_value, "q": q}


def loguniform(min_value: float, max_value: float) -> dict:
    return {"type": "loguniform", "low": min_value, "high": max_value}


def qloguniform(min_value: float, max_value: float, q: float) -> dict:
    return {"type": "qloguniform", "low": min_value, "high": max_value, "q": q}


def normal(mu: float, sigma: float) -> dict:
    return {"type": "normal", "mu": mu, "sigma": sigma}


def qnormal(mu: float, sigma: float, q: float) -> dict:
    return {"type": "qnormal", "mu": mu, "sigma": sigma, "q": q}


def lognormal(mu: float, sigma: float) -> dict:
    return {"type": "lognormal", "mu": mu, "sigma": sigma}


def qlognormal(mu: float, sigma: float, q: float) -> dict:
    return {"type": "qlognormal", "mu": mu, "sigma": sigma, "q": q}


# ---- sampling -----------------------------------------------------------------------------------


class _Sampling:
    kind = ""

    def __init__(self, parameter_space: dict[str, dict], properties: dict | None = None, **_cloud_only: Any):
        # The cloud SDK's names carry no dashes in some examples ("learning_rate"): the script gets --name.
        self.parameter_space = {
            (name if name.startswith("-") else f"--{name}"): spec for name, spec in parameter_space.items()
        }
        self.seed = (properties or {}).get("seed")


class RandomParameterSampling(_Sampling):
    kind = "random"


class GridParameterSampling(_Sampling):
    kind = "grid"


class BayesianParameterSampling(_Sampling):
    kind = "bayesian"


# ---- early termination --------------------------------------------------------------------------


class _Policy:
    kind = "none"

    def __init__(self, **options: Any):
        self.options = {k: v for k, v in options.items() if v is not None}


class BanditPolicy(_Policy):
    kind = "bandit"

    def __init__(self, evaluation_interval=1, slack_factor=None, slack_amount=None, delay_evaluation=0):
        super().__init__(
            evaluation_interval=evaluation_interval,
            slack_factor=slack_factor,
            slack_amount=slack_amount,
            delay_evaluation=delay_evaluation,
        )


class MedianStoppingPolicy(_Policy):
    kind = "median"

    def __init__(self, evaluation_interval=1, delay_evaluation=0):
        super().__init__(evaluation_interval=evaluation_interval, delay_evaluation=delay_evaluation)


class TruncationSelectionPolicy(_Policy):
    kind = "truncation"

    def __init__(self, truncation_percentage, evaluation_interval=1, delay_evaluation=0):
        super().__init__(
            truncation_percentage=truncation_percentage,
            evaluation_interval=evaluation_interval,
            delay_evaluation=delay_evaluation,
        )


class NoTerminationPolicy(_Policy):
    kind = "none"


class PrimaryMetricGoal(str, enum.Enum):  # noqa: UP042 - the SDK runs on Pythons before StrEnum
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


# ---- the config and the run it gives ------------------------------------------------------------


class HyperDriveConfig:
    def __init__(
        self,
        hyperparameter_sampling: _Sampling,
        primary_metric_name: str,
        primary_metric_goal: PrimaryMetricGoal | str,
        max_total_runs: int,
        max_concurrent_runs: int | None = None,
        max_duration_minutes: int | None = None,
        policy: _Policy | None = None,
        run_config: ScriptRunConfig | None = None,
        resume_from: HyperDriveRun | None = None,
        **_cloud_only: Any,
    ):
        if run_config is None:
            raise ValueError("HyperDriveConfig needs run_config=ScriptRunConfig(...).")
        self.run_config = run_config
        self.hyperparameter_sampling = hyperparameter_sampling
        self.primary_metric_name = primary_metric_name
        self.primary_metric_goal = PrimaryMetricGoal(primary_metric_goal)
        self.max_total_runs = max_total_runs
        self.max_concurrent_runs = max_concurrent_runs or max_total_runs
        self.max_duration_minutes = max_duration_minutes
        self.policy = policy or NoTerminationPolicy()
        self.resume_from = resume_from

    def request(self) -> dict[str, Any]:
        """The sweep's part of the API's request body (the run's part comes from run_config)."""
        sampling = self.hyperparameter_sampling
        return {
            "space": sampling.parameter_space,
            "sampling": sampling.kind,
            "seed": sampling.seed,
            "primary_metric_name": self.primary_metric_name,
            "primary_metric_goal": self.primary_metric_goal.value,
            "max_total_runs": self.max_total_runs,
            "max_concurrent_runs": self.max_concurrent_runs,
            "max_duration_minutes": self.max_duration_minutes,
            "policy": self.policy.kind,
            "policy_options": self.policy.options,
            "warm_start_from": int(self.resume_from.id) if self.resume_from is not None else None,
        }


class HyperDriveRun(Run):
    """A sweep's parent run: ``get_children()``, ``get_best_run_by_primary_metric()``."""

    def _sweep(self) -> dict[str, Any]:
        return self.workspace._client.get(self.workspace.api(f"sweeps/{self.id}/"))

    def get_children(self, **_cloud_only: Any) -> list[Run]:
        return [Run._from_payload(self.experiment, child) for child in self._sweep()["children"]]

    def get_best_run_by_primary_metric(self, **_cloud_only: Any) -> Run | None:
        best = self._sweep()["best"]
        return Run._from_payload(self.experiment, best) if best else None

    def get_hyperparameters(self) -> dict[str, dict]:
        return {str(child["id"]): child["trial_params"] for child in self._sweep()["children"]}

    def get_metrics(self, name: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """The primary metric's value per child (the cloud SDK's parent-run view)."""
        sweep = self._sweep()
        if name not in (None, sweep["primary_metric_name"]):
            return super().get_metrics(name)
        return {
            str(c["id"]): {sweep["primary_metric_name"]: c["primary_metric_value"]} for c in sweep["children"]
        }


__all__ = [
    "BanditPolicy",
    "BayesianParameterSampling",
    "GridParameterSampling",
    "HyperDriveConfig",
    "HyperDriveRun",
    "MedianStoppingPolicy",
    "NoTerminationPolicy",
    "PrimaryMetricGoal",
    "RandomParameterSampling",
    "TruncationSelectionPolicy",
    "choice",
    "lognormal",
    "loguniform",
    "normal",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "uniform",
]
