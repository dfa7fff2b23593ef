"""portal_run, the metrics helper shipped into every run folder."""

import importlib.util
import json
import warnings
from pathlib import Path

import pytest

HELPER = Path(__file__).resolve().parents[2] / "runs" / "helper" / "portal_run.py"


def load_helper():
    spec = importlib.util.spec_from_file_location("portal_run_under_test", HELPER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_outside_the_portal_it_warns_once_and_does_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv("PORTAL_METRICS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    helper = load_helper()
    with pytest.warns(UserWarning, match="not running inside the compute portal"):
        run = helper.Run.get_context()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert helper.Run.get_context() is run
        run.log("loss", 1.0)
        run.log_list("acc", [0.1, 0.2])
    assert run.offline and list(tmp_path.iterdir()) == []


def test_inside_a_run_it_appends_json_lines_with_steps(monkeypatch, tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("PORTAL_METRICS_FILE", str(metrics))
    run = load_helper().Run.get_context()
    run.log("loss", 0.5)
    run.log("loss", 0.25)
    run.log("loss", 0.1, step=10)
    run.log("loss", 0.05)
    run.log_list("acc", [0.7, 0.8])
    run.log("bad", float("nan"))
    points = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [(p["name"], p["step"], p["value"]) for p in points] == [
        ("loss", 0, 0.5),
        ("loss", 1, 0.25),
        ("loss", 10, 0.1),
        ("loss", 11, 0.05),
        ("acc", 0, 0.7),
        ("acc", 1, 0.8),
        ("bad", 0, None),
    ]
    assert all(isinstance(p["time"], float) for p in points)
