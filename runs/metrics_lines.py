"""The metrics file's lines: what a run's helpers (portal_run, the azureml
shim) append, one JSON object a line, and the monitor reads like the log.

    {"name": "loss", "step": 3, "value": 0.25, "time": 1700000000.0}   a scalar (charted)
    {"type": "list", "name": "acc", "values": [0.7, 0.8]}              a list
    {"type": "row", "name": "curve", "row": {"x": 1, "y": 0.5}}        one row appended to a table
    {"type": "table", "name": "cm", "table": {"x": [1, 2], "y": [3, 4]}}  a table, by column
    {"type": "tag", "key": "model", "value": "ridge"}
    {"type": "param", "key": "alpha", "value": "0.5"}
    {"type": "image", "name": "loss", "path": "outputs/loss.png"}     a file the run saved
    {"type": "system", "time": ..., "cpu": 1.9, "rss": ..., "gpus": [...]}  the sampler's (system_samples.py)

Nothing in the file is trusted: a line that is malformed, of the wrong
types, not finite or over a limit is refused with a note in the run's
system log, and every other line is still stored.
"""

import json
import math
import time
from datetime import UTC, datetime

from . import run_data
from .run_data import RunDataError
from .system_samples import SampleRefused, parse_sample

# Metric times outside these bounds are refused (a clock or a bug, not a time).
METRIC_TIME_MIN = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
METRIC_TIME_SKEW = 24 * 3600
METRIC_NOTES_PER_READ = 10
NAME_MAX = 200  # Metric.name

RECORD_TYPES = ("list", "row", "table", "tag", "param", "image")


class Refused(Exception):
    """A line refused; the message goes to the run's log."""


def parse_metrics(text: str) -> tuple[list[dict], list[tuple], list[str]]:
    """Metric points, other records (tables, tags, params, images: see
    store_records) and a note for each line refused (NaN and infinite
    values, times out of range, wrong types, malformed lines): the notes go
    to the run's system log, the run goes on."""
    points, records, notes, refused = [], [], [], 0
    now = time.time()
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            try:
                item = json.loads(line)
            except (ValueError, RecursionError):
                raise Refused(f"a malformed metrics line was skipped: {line[:80]!r}") from None
            if not isinstance(item, dict):
                raise Refused(f"a metrics line that is not an object was skipped: {line[:80]!r}")
            kind = item.get("type", "scalar")
            if kind == "scalar":
                point = _scalar(item, now)
                if point is not None:
                    points.append(point)
            elif kind in RECORD_TYPES:
                records.append(_record(kind, item))
            elif kind == "system":
                try:
                    records.append(("system", parse_sample(item, now, METRIC_TIME_MIN, METRIC_TIME_SKEW)))
                except SampleRefused as exc:
                    raise Refused(str(exc)) from None
            else:
                raise Refused(f"unknown line type {str(kind)[:40]!r}")
        except Refused as exc:
            refused += 1
            if refused <= METRIC_NOTES_PER_READ:
                notes.append(f"Metric refused: {exc}.")
    if refused > METRIC_NOTES_PER_READ:
        notes.append(f"… and {refused - METRIC_NOTES_PER_READ} more metric lines refused.")
    return points, records, notes


def _scalar(item: dict, now: float) -> dict | None:
    try:
        value = item["value"]
        if value is None:  # portal_run writes NaN as null: skipped quietly, as it always was
            return None
        name = str(item["name"])[:NAME_MAX]
        step = int(item["step"])
        stamp = float(item.get("time") or now)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise Refused(f"a malformed metrics line was skipped: {json.dumps(item)[:80]!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(f"metric {name!r} at step {step}: {str(value)[:40]!r} is not a number")
    value = float(value)
    if not math.isfinite(value):
        raise Refused(f"metric {name!r} at step {step}: {value} is not a finite number")
    if not math.isfinite(stamp) or not METRIC_TIME_MIN <= stamp <= now + METRIC_TIME_SKEW:
        raise Refused(f"metric {name!r} at step {step}: its time {stamp!r} is out of range")
    if not -(2**63) <= step < 2**63:
        raise Refused(f"metric {name!r}: step {step} is out of range")
    return {"name": name, "step": step, "value": value, "time": datetime.fromtimestamp(stamp, tz=UTC)}


def _text_field(item: dict, field: str, kind: str) -> str:
    value = item.get(field)
    if not isinstance(value, str) or not value:
        raise Refused(f"a {kind} line without a {field} was skipped")
    return value


def _record(kind: str, item: dict) -> tuple:
    """A record from one line, its shape checked; limits that depend on what
    is stored already are checked when it is stored."""
    if kind in ("tag", "param"):
        key = _text_field(item, "key", kind)
        value = item.get("value")
        if not (value is None or isinstance(value, str | int | float | bool)):
            raise Refused(f"{kind} {key[:60]!r}: its value must be text or a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise Refused(f"{kind} {key[:60]!r}: {value} is not a finite number")
        return (kind, key, value)
    name = _text_field(item, "name", kind)
    if kind == "image":
        return (kind, name, _text_field(item, "path", kind))
    try:
        if kind == "list":
            values = item.get("values")
            if not isinstance(values, list):
                raise Refused(f"list {name[:60]!r}: its values must be a list")
            columns, rows = [name], [[v] for v in values]
        elif kind == "row":
            row = item.get("row")
            if not isinstance(row, dict) or not row:
                raise Refused(f"row of {name[:60]!r}: it must map column names to values")
            columns, rows = list(row), [list(row.values())]
        else:
            table = item.get("table")
            if (
                not isinstance(table, dict)
                or not table
                or not all(isinstance(v, list) for v in table.values())
            ):
                raise Refused(f"table {name[:60]!r}: it must map column names to lists of values")
            lengths = {len(v) for v in table.values()}
            if len(lengths) != 1:
                raise Refused(f"table {name[:60]!r}: its columns have different lengths ({sorted(lengths)})")
            columns, rows = list(table), [list(r) for r in zip(*table.values(), strict=True)]
        if len(rows) > run_data.TABLE_ROWS_MAX:
            raise Refused(f"{kind} {name[:60]!r}: {len(rows)} rows, over the {run_data.TABLE_ROWS_MAX} limit")
        if len(columns) > run_data.TABLE_COLUMNS_MAX:
            raise Refused(
                f"{kind} {name[:60]!r}: {len(columns)} columns, over the {run_data.TABLE_COLUMNS_MAX} limit"
            )
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                run_data.check_cell(value, where=f"{kind} {name[:60]!r}, column {column[:60]!r}")
    except RunDataError as exc:
        raise Refused(str(exc).rstrip(".")) from None
    return ("table", name, kind, columns, rows)


# ---- storing -----------------------------------------------------------------------------------


def _batches(records: list[tuple]):
    """Consecutive records that one service call can store: rows of one table
    (a script logging a row per step costs one update per read, not per
    row), tags, params (a key at most once per call)."""
    batch = None
    for record in records:
        kind = record[0]
        if batch is not None:
            same = batch[0] == kind
            if same and kind == "table" and batch[1] == record[1] and batch[2] == record[2]:
                batch[3].append(record)
                continue
            if same and kind == "tag":
                batch[3].append(record)
                continue
            if same and kind == "param" and record[1] not in {r[1] for r in batch[3]}:
                batch[3].append(record)
                continue
            yield batch[3]
        batch = (kind, record[1], record[2] if kind == "table" else None, [record])
    if batch is not None:
        yield batch[3]


def _store(run, batch: list[tuple]) -> None:
    kind = batch[0][0]
    if kind == "tag":
        run_data.run_set_tags(run=run, tags={key: value for _, key, value in batch}, push=False)
    elif kind == "param":
        run_data.run_log_params(run=run, params={key: value for _, key, value in batch}, push=False)
    elif kind == "image":
        for _, name, path in batch:
            run_data.run_image_add(run=run, name=name, path=path, push=False)
    else:
        _, name, table_kind = batch[0][:3]
        columns = []
        for record in batch:
            columns += [c for c in record[3] if c not in columns]
        rows = []
        for _, _, _, record_columns, record_rows in batch:
            where = [columns.index(c) for c in record_columns]
            for row in record_rows:
                cells = [None] * len(columns)
                for index, value in zip(where, row, strict=True):
                    cells[index] = value
                rows.append(cells)
        run_data.run_table_append(run=run, name=name, kind=table_kind, columns=columns, rows=rows, push=False)


def store_records(run, records: list[tuple]) -> tuple[bool, list[str]]:
    """Store the records one read of the metrics file gave (inside the tick's
    transaction): (whether anything was stored, a note for each refused).
    A batch refused as a whole is stored again record by record, so one bad
    record never costs the others."""
    stored, notes = False, []
    for batch in _batches(records):
        try:
            _store(run, batch)
            stored = True
            continue
        except RunDataError as exc:
            if len(batch) == 1:
                notes.append(str(exc))
                continue
        for record in batch:
            try:
                _store(run, [record])
                stored = True
            except RunDataError as exc:
                notes.append(str(exc))
    if len(notes) > METRIC_NOTES_PER_READ:
        notes[METRIC_NOTES_PER_READ:] = [f"… and {len(notes) - METRIC_NOTES_PER_READ} more refused."]
    return stored, [f"Metric refused: {note}" for note in notes]
