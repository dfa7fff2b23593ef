"""Tags, params, tables and images of a run: the services, the metrics-line
parser and what the monitor stores from a read."""

import json
import math

import pytest

from runs import metrics_lines, run_data
from runs.models import RunImage, RunParam, RunTable, RunTag
from runs.run_data import RunDataError


def tags_of(run):
    return dict(RunTag.objects.filter(run=run).values_list("key", "value"))


def params_of(run):
    return dict(RunParam.objects.filter(run=run).values_list("key", "value"))


# ---- services --------------------------------------------------------------------------------


def test_tags_are_set_and_set_again(idle_run):
    run_data.run_set_tags(run=idle_run, tags={"model": "ridge", "epochs": 3, "note": None})
    run_data.run_set_tags(run=idle_run, tags={"model": "lasso"})
    assert tags_of(idle_run) == {"model": "lasso", "epochs": "3", "note": ""}


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"": "x"}, "non-empty"),
        ({"k" * 251: "x"}, "over 250 characters"),
        ({"k": "v" * 8001}, "over the 8000 limit"),
        ({"k": ["a", "list"]}, "text or a number"),
        ({"bad\nkey": "v"}, "control characters"),
    ],
)
def test_bad_tags_are_refused_and_change_nothing(idle_run, tags, message):
    run_data.run_set_tags(run=idle_run, tags={"kept": "1"})
    with pytest.raises(RunDataError, match=message):
        run_data.run_set_tags(run=idle_run, tags={"first": "fine", **tags})
    assert tags_of(idle_run) == {"kept": "1"}


def test_a_param_never_changes_once_logged(idle_run):
    run_data.run_log_params(run=idle_run, params={"alpha": 0.5, "solver": "auto"})
    run_data.run_log_params(run=idle_run, params={"alpha": "0.5"})  # the same value: accepted
    with pytest.raises(
        RunDataError, match=r"Param 'alpha' was already logged as '0.5'.*cannot change.*'0.7'"
    ):
        run_data.run_log_params(run=idle_run, params={"new": "x", "alpha": 0.7})
    assert params_of(idle_run) == {"alpha": "0.5", "solver": "auto"}
    with pytest.raises(RunDataError, match="over the 6000 limit"):
        run_data.run_log_params(run=idle_run, params={"long": "x" * 6001})


def test_tables_append_rows_and_grow_columns(idle_run):
    run_data.run_table_append(run=idle_run, name="curve", kind="row", columns=["x", "y"], rows=[[1, 0.5]])
    run_data.run_table_append(run=idle_run, name="curve", kind="row", columns=["y", "z"], rows=[[0.25, "b"]])
    table = RunTable.objects.get(run=idle_run, name="curve")
    assert table.columns == ["x", "y", "z"]
    assert table.rows == [[1, 0.5, None], [None, 0.25, "b"]]
    with pytest.raises(RunDataError, match="was logged as a rows: it cannot take a list too"):
        run_data.run_table_append(run=idle_run, name="curve", kind="list", columns=["curve"], rows=[[1]])


@pytest.mark.parametrize(
    ("columns", "rows", "message"),
    [
        (["x"], [[math.nan]], "not a finite number"),
        (["x"], [[{"a": 1}]], "a dict is not a number"),
        (["x"], [["t" * 1001]], "over the 1000 limit"),
        (["x", "y"], [[1]], "one value per column"),
        (["x", "x"], [[1, 2]], "a column appears twice"),
        ([f"c{i}" for i in range(51)], [list(range(51))], "51 columns"),
        (["x"], [[i] for i in range(10_001)], "at most 10000 rows"),
    ],
)
def test_bad_tables_are_refused_and_change_nothing(idle_run, columns, rows, message):
    run_data.run_table_append(run=idle_run, name="t", kind="table", columns=["x"], rows=[[1]])
    with pytest.raises(RunDataError, match=message):
        run_data.run_table_append(run=idle_run, name="t", kind="table", columns=columns, rows=rows)
    assert RunTable.objects.get(run=idle_run, name="t").rows == [[1]]


def test_a_table_stops_at_its_row_limit(idle_run, monkeypatch):
    monkeypatch.setattr(run_data, "TABLE_ROWS_MAX", 5)
    run_data.run_table_append(
        run=idle_run, name="l", kind="list", columns=["l"], rows=[[i] for i in range(4)]
    )
    with pytest.raises(RunDataError, match="would hold 6 rows.*these 2 rows were not stored"):
        run_data.run_table_append(run=idle_run, name="l", kind="list", columns=["l"], rows=[[4], [5]])
    assert len(RunTable.objects.get(run=idle_run, name="l").rows) == 4


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "outputs/../secret", "model.png", "outputs", "outputs\\x.png", 3]
)
def test_images_must_lie_under_outputs(idle_run, path):
    with pytest.raises(RunDataError, match="under outputs/"):
        run_data.run_image_add(run=idle_run, name="img", path=path)
    assert not RunImage.objects.exists()


def test_an_image_is_recorded_by_its_output_path(idle_run):
    run_data.run_image_add(run=idle_run, name="loss", path="outputs/images/loss.png")
    run_data.run_image_add(run=idle_run, name="loss again", path="outputs/images/loss.png")
    assert list(RunImage.objects.values_list("name", "path")) == [("loss again", "images/loss.png")]


# ---- the metrics-line parser -------------------------------------------------------------------


def lines(*items) -> str:
    return "".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items)


def test_every_line_type_parses():
    points, records, notes = metrics_lines.parse_metrics(
        lines(
            {"name": "mse", "step": 0, "value": 0.5, "time": 1.7e9},
            {"type": "list", "name": "acc", "values": [0.1, 0.2]},
            {"type": "row", "name": "curve", "row": {"x": 1, "y": 2}},
            {"type": "table", "name": "cm", "table": {"a": [1, 2], "b": ["x", "y"]}},
            {"type": "tag", "key": "model", "value": "ridge"},
            {"type": "param", "key": "alpha", "value": 0.5},
            {"type": "image", "name": "loss", "path": "outputs/loss.png"},
        )
    )
    assert notes == []
    assert [(p["name"], p["step"], p["value"]) for p in points] == [("mse", 0, 0.5)]
    assert records == [
        ("table", "acc", "list", ["acc"], [[0.1], [0.2]]),
        ("table", "curve", "row", ["x", "y"], [[1, 2]]),
        ("table", "cm", "table", ["a", "b"], [[1, "x"], [2, "y"]]),
        ("tag", "model", "ridge"),
        ("param", "alpha", 0.5),
        ("image", "loss", "outputs/loss.png"),
    ]


@pytest.mark.parametrize(
    ("line", "note"),
    [
        ('{"name": "mse", "step": 0, "value": NaN}', "not a finite number"),
        ('{"name": "mse", "step": 0, "value": "high"}', "'high' is not a number"),
        ('{"type": "list", "name": "a", "values": [1, NaN]}', "not a finite number"),
        ('{"type": "list", "name": "a", "values": 3}', "its values must be a list"),
        ('{"type": "row", "name": "r", "row": [1, 2]}', "must map column names to values"),
        ('{"type": "table", "name": "t", "table": {"a": [1], "b": [1, 2]}}', "different lengths"),
        ('{"type": "table", "name": "t", "table": {"a": [[1]]}}', "a list is not a number"),
        ('{"type": "tag", "key": "k", "value": {"x": 1}}', "must be text or a number"),
        ('{"type": "image", "name": "i"}', "without a path"),
        ('{"type": "chart", "name": "c"}', "unknown line type"),
        ("[1, 2]", "not an object"),
        ("{not json", "malformed"),
        (json.dumps({"type": "list", "name": "big", "values": list(range(10_001))}), "over the 10000 limit"),
    ],
)
def test_bad_lines_are_refused_with_a_note_and_the_rest_kept(line, note):
    good = {"type": "tag", "key": "kept", "value": "yes"}
    points, records, notes = metrics_lines.parse_metrics(
        lines(line, good, {"name": "m", "step": 0, "value": 1})
    )
    assert records == [("tag", "kept", "yes")] and len(points) == 1
    assert len(notes) == 1 and notes[0].startswith("Metric refused:") and note in notes[0], notes


def test_records_are_stored_in_batches_and_a_bad_one_costs_no_other(idle_run, django_assert_max_num_queries):
    run_data.run_log_params(run=idle_run, params={"alpha": "0.5"})
    _, records, _ = metrics_lines.parse_metrics(
        lines(
            *[{"type": "row", "name": "curve", "row": {"step": i, "loss": 1 / (i + 1)}} for i in range(200)],
            {"type": "param", "key": "alpha", "value": "0.9"},  # a change: refused
            {"type": "param", "key": "beta", "value": "2"},
            {"type": "row", "name": "curve", "row": {"step": 200, "loss": 0.0, "extra": "x"}},
            {"type": "tag", "key": "a", "value": "1"},
            {"type": "tag", "key": "b", "value": "2"},
            {"type": "list", "name": "curve", "values": [1]},  # curve is a row table: refused
            {"type": "image", "name": "i", "path": "outputs/i.png"},
        )
    )
    with django_assert_max_num_queries(40):
        stored, notes = metrics_lines.store_records(idle_run, records)
    assert stored
    assert len(notes) == 2
    assert "Param 'alpha' was already logged" in notes[0] and "it cannot take a list" in notes[1]
    table = RunTable.objects.get(run=idle_run, name="curve")
    assert table.columns == ["step", "loss", "extra"] and len(table.rows) == 201
    assert table.rows[-1] == [200, 0.0, "x"] and table.rows[0] == [0, 1.0, None]
    assert params_of(idle_run) == {"alpha": "0.5", "beta": "2"}
    assert tags_of(idle_run) == {"a": "1", "b": "2"}
    assert RunImage.objects.get(run=idle_run).path == "i.png"
