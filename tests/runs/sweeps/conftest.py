import pytest

SPACE = {
    "--alpha": {"type": "choice", "values": [0.1, 0.2, 0.3, 0.4]},
    "--kernel": {"type": "choice", "values": ["rbf", "linear", "poly"]},
}


@pytest.fixture
def make_sweep(team, make_snapshot, local_target):
    """make_sweep(**overrides) -> the parent run of a stored sweep (as the contributor)."""
    from runs.sweeps.services import sweep_submit

    def _make(files=None, **overrides):
        snapshot = make_snapshot(files or {"train.py": "print(1)\n"})
        request = {
            "workspace": team.workspace,
            "user": team.contributor,
            "experiment_name": "sweep-exp",
            "target": local_target,
            "snapshot": snapshot,
            "script": "train.py",
            "arguments": [],
            "environment": {"kind": "user", "interpreter": "python3"},
            "space": SPACE,
            "sampling": "grid",
            "primary_metric": "accuracy",
            "goal": "maximize",
            "max_total_runs": 6,
            "max_concurrent_runs": 2,
        }
        request.update(overrides)
        return sweep_submit(**request)

    return _make
