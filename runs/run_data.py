"""What a run records besides scalar metrics: tags, params, tables and images.

The same services serve every door: the monitor stores what a run's
``azureml`` shim wrote to its metrics file (metrics_lines.py), and the
MLflow tracking endpoints store what an ``mlflow`` client sends. Each call
checks everything before it writes, and writes inside a savepoint: a
refused call raises ``RunDataError`` with a message for the user and
changes nothing. Pushes to the run page go out after commit, once per call
(``push=False`` when the caller pushes once for many calls).
"""

import math
from pathlib import PurePosixPath

from django.db import transaction

from .models import Run, RunImage, RunParam, RunTable, RunTableKind, RunTag

# MLflow's own limits (mlflow/utils/validation.py, 2.x and 3.x).
KEY_MAX = 250
PARAM_VALUE_MAX = 6000
TAG_VALUE_MAX = 8000
TAGS_PER_RUN_MAX = 1000
PARAMS_PER_RUN_MAX = 1000
# Tables are shown on the run page whole: kept small enough to render.
TABLES_PER_RUN_MAX = 100
TABLE_COLUMNS_MAX = 50
TABLE_ROWS_MAX = 10_000
TABLE_CELLS_MAX = 100_000
CELL_CHARS_MAX = 1000
IMAGES_PER_RUN_MAX = 100
IMAGE_PATH_MAX = 1000


class RunDataError(ValueError):
    """A refused write: the message says what and why; nothing was stored."""


# ---- tags and params -----------------------------------------------------------------------


def _text(value, *, what: str, key: str, limit: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        value = str(value)
    if not isinstance(value, str):
        raise RunDataError(f"{what} {key!r}: its value must be text or a number, not {type(value).__name__}.")
    if len(value) > limit:
        raise RunDataError(
            f"{what} {key!r}: its value is {len(value)} characters long, over the {limit} limit."
        )
    return value


def _key(key, *, what: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise RunDataError(f"{what} names must be non-empty text (got {key!r:.60}).")
    if len(key) > KEY_MAX:
        raise RunDataError(f"{what} {key[:40]!r}…: its name is over {KEY_MAX} characters.")
    if any(ord(c) < 32 for c in key):
        raise RunDataError(f"{what} {key[:40]!r}: its name holds control characters.")
    return key


def _checked(items: dict, *, what: str, limit: int) -> dict[str, str]:
    if not isinstance(items, dict):
        raise RunDataError(f"{what}s must be given as a mapping of name to value.")
    return {_key(k, what=what): _text(v, what=what, key=k, limit=limit) for k, v in items.items()}


def run_set_tags(*, run: Run, tags: dict, push: bool = True) -> None:
    """Set tags on ``run``; a tag set again takes the new value."""
    tags = _checked(tags, what="Tag", limit=TAG_VALUE_MAX)
    if not tags:
        return
    with transaction.atomic():
        existing = set(RunTag.objects.filter(run=run).values_list("key", flat=True))
        if len(existing | set(tags)) > TAGS_PER_RUN_MAX:
            raise RunDataError(f"A run holds at most {TAGS_PER_RUN_MAX} tags: {sorted(tags)[:5]} not set.")
        RunTag.objects.bulk_create(
            [RunTag(run=run, key=k, value=v) for k, v in tags.items()],
            update_conflicts=True,
            unique_fields=["run", "key"],
            update_fields=["value"],
        )
    if push:
        push_data(run)


def run_log_params(*, run: Run, params: dict, push: bool = True) -> None:
    """Log params on ``run``. A param never changes once logged: the same
    value again is accepted, another value is refused (as MLflow does)."""
    params = _checked(params, what="Param", limit=PARAM_VALUE_MAX)
    if not params:
        return
    with transaction.atomic():
        stored = dict(RunParam.objects.filter(run=run).values_list("key", "value"))
        _refuse_changes(params, stored)
        if len(set(stored) | set(params)) > PARAMS_PER_RUN_MAX:
            raise RunDataError(
                f"A run holds at most {PARAMS_PER_RUN_MAX} params: {sorted(params)[:5]} not logged."
            )
        RunParam.objects.bulk_create(
            [RunParam(run=run, key=k, value=v) for k, v in params.items() if k not in stored],
            ignore_conflicts=True,
        )
        # Another writer may have logged one of them meanwhile: its value stands.
        _refuse_changes(
            params, dict(RunParam.objects.filter(run=run, key__in=list(params)).values_list("key", "value"))
        )
    if push:
        push_data(run)


def _refuse_changes(params: dict, stored: dict) -> None:
    for key, value in params.items():
        if key in stored and stored[key] != value:
            raise RunDataError(
                f"Param {key!r} was already logged as {stored[key][:100]!r}: a param cannot change "
                f"once logged (got {value[:100]!r}). Log a metric or a tag for values that change."
            )


# ---- tables -----------------------------------------------------------------------------------


def check_cell(value, *, where: str):
    """A table cell: a JSON scalar (text up to CELL_CHARS_MAX, a finite number, a bool or null)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise RunDataError(f"{where}: {value} is out of range.")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RunDataError(f"{where}: {value} is not a finite number.")
        return value
    if isinstance(value, str):
        if len(value) > CELL_CHARS_MAX:
            raise RunDataError(
                f"{where}: a text of {len(value)} characters, over the {CELL_CHARS_MAX} limit."
            )
        return value
    raise RunDataError(f"{where}: a {type(value).__name__} is not a number, text, true/false or null.")


def _check_table_shape(name, kind, columns, rows) -> tuple[list[str], list[list]]:
    if kind not in RunTableKind.values:
        raise RunDataError(f"Table {name!r}: unknown kind {kind!r} (list, row or table).")
    if not isinstance(columns, list) or not columns:
        raise RunDataError(f"Table {name!r}: it needs at least one column.")
    columns = [_key(c, what=f"Table {name!r}: column") for c in columns]
    if len(set(columns)) != len(columns):
        raise RunDataError(f"Table {name!r}: a column appears twice.")
    if len(columns) > TABLE_COLUMNS_MAX:
        raise RunDataError(f"Table {name!r}: {len(columns)} columns, over the {TABLE_COLUMNS_MAX} limit.")
    if not isinstance(rows, list) or len(rows) > TABLE_ROWS_MAX:
        raise RunDataError(f"Table {name!r}: at most {TABLE_ROWS_MAX} rows.")
    checked = []
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) != len(columns):
            raise RunDataError(f"Table {name!r}: row {i} does not have one value per column.")
        checked.append(
            [check_cell(v, where=f"Table {name!r}, column {c!r}") for c, v in zip(columns, row, strict=True)]
        )
    return columns, checked


def run_table_append(
    *, run: Run, name: str, kind: str, columns: list, rows: list, push: bool = True
) -> RunTable:
    """Append ``rows`` (one value per column of ``columns``) to the run's
    table ``name``, creating it; columns new to the table are added (earlier
    rows get null there). A table keeps the kind it was created with."""
    name = _key(name, what="Table")
    columns, rows = _check_table_shape(name, kind, columns, rows)
    with transaction.atomic():
        table = RunTable.objects.select_for_update().filter(run=run, name=name).first()
        if table is None:
            if RunTable.objects.filter(run=run).count() >= TABLES_PER_RUN_MAX:
                raise RunDataError(
                    f"A run holds at most {TABLES_PER_RUN_MAX} tables: {name!r} was not stored."
                )
            table = RunTable(run=run, name=name, kind=kind, columns=[], rows=[])
        elif table.kind != kind:
            raise RunDataError(
                f"Table {name!r} was logged as a {table.get_kind_display()}: it cannot take a "
                f"{RunTableKind(kind).label} too. Use another name."
            )
        merged = table.columns + [c for c in columns if c not in table.columns]
        if len(merged) > TABLE_COLUMNS_MAX:
            raise RunDataError(f"Table {name!r}: {len(merged)} columns, over the {TABLE_COLUMNS_MAX} limit.")
        total = len(table.rows) + len(rows)
        if total > TABLE_ROWS_MAX or total * len(merged) > TABLE_CELLS_MAX:
            raise RunDataError(
                f"Table {name!r} would hold {total} rows of {len(merged)} columns, over its limit "
                f"({TABLE_ROWS_MAX} rows, {TABLE_CELLS_MAX} values): these {len(rows)} rows were not stored."
            )
        grow = len(merged) - len(table.columns)
        old = [row + [None] * grow for row in table.rows] if grow else table.rows
        where = [merged.index(c) for c in columns]
        new = []
        for row in rows:
            cells = [None] * len(merged)
            for index, value in zip(where, row, strict=True):
                cells[index] = value
            new.append(cells)
        table.columns, table.rows = merged, old + new
        table.save()
    if push:
        push_data(run)
    return table


# ---- images ---------------------------------------------------------------------------------


def image_output_path(path) -> str:
    """The path of an image under the run's outputs/ (as Output.path has it);
    ``path`` is relative to the run's working directory and must lie under outputs/."""
    if not isinstance(path, str) or not path or len(path) > IMAGE_PATH_MAX or "\\" in path or "\x00" in path:
        raise RunDataError(f"Image path {str(path)[:100]!r} is not a relative path under outputs/.")
    parts = PurePosixPath(path).parts
    if path.startswith("/") or ".." in parts or len(parts) < 2 or parts[0] != "outputs":
        raise RunDataError(f"Image path {path[:100]!r} is not a file under outputs/.")
    return "/".join(parts[1:])


def run_image_add(*, run: Run, name: str, path: str, push: bool = True) -> RunImage:
    """Record an image the run saved at ``path`` (under outputs/)."""
    name = _key(name, what="Image")
    relative = image_output_path(path)
    with transaction.atomic():
        if RunImage.objects.filter(run=run).exclude(path=relative).count() >= IMAGES_PER_RUN_MAX:
            raise RunDataError(f"A run shows at most {IMAGES_PER_RUN_MAX} images: {name!r} was not recorded.")
        image, _ = RunImage.objects.update_or_create(run=run, path=relative, defaults={"name": name})
    if push:
        push_data(run)
    return image


# ---- pushes -----------------------------------------------------------------------------------


def push_data(run: Run) -> None:
    """After commit, push the run page's tags, params, tables and images."""
    from portal.live import broadcast

    from .live import run_group
    from .selectors import RunData

    broadcast(run_group(run.pk), "runs/run_detail.html#data", {"run": run, "data": RunData(run)})
