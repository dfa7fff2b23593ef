"""The compute portal's ``azureml.core.run.Run``: the logging calls of the
cloud service's Run API, for scripts written for it.

    from azureml.core.run import Run     # or: from azureml.core import Run
    run = Run.get_context()
    run.log("mse", 0.25)

Inside a portal run, each call appends one JSON line to the run's metrics
file (PORTAL_METRICS_FILE), which the portal reads like the log; files go to
./outputs, which the portal collects when the run ends. Outside the portal,
``Run.get_context()`` returns an offline run that prints what it would log,
as the real one does, and the script goes on.

Calls this shim does not cover raise NotImplementedError: never a silent
no-op. The covered calls are listed in the portal's README (DOCS below).
"""

import json
import os
import re
import shutil
import sys
import time
import uuid

__all__ = ["Run"]

DOCS = "the compute portal's README, section \"Scripts written for the cloud service's Run API\""
# Longer lines are refused here, with a note on stderr (the portal would refuse them too).
LINE_MAX = 512 * 1024


def _unsupported(call):
    return NotImplementedError(
        f"{call} is not supported by the compute portal's azureml shim; see {DOCS} for the calls it covers."
    )


def _plain(value):
    """numpy scalars and arrays (and the like) as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class _Experiment:
    """The run's experiment: its name only."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Experiment(name={self.name!r})"

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise _unsupported(f"Experiment.{name}")


class Run:
    """A run of the compute portal, with the cloud service's logging calls."""

    _context = None

    def __init__(self, *args, **kwargs):
        raise _unsupported("Run(experiment, run_id)")

    @classmethod
    def _make(cls, metrics_file, run_dir):
        run = object.__new__(cls)
        run._file = metrics_file
        run._run_dir = run_dir
        run._steps = {}
        run._metrics = {}
        run._tags = {}
        offline = not metrics_file
        run.id = f"OfflineRun_{uuid.uuid4()}" if offline else os.environ.get("PORTAL_RUN_ID", "")
        run.experiment = _Experiment("offline" if offline else os.environ.get("PORTAL_EXPERIMENT", ""))
        run.parent = None
        return run

    # ---- getting the run ---------------------------------------------------------------
    @classmethod
    def get_context(cls, allow_offline=True, used_for_context_manager=False, **kwargs):
        """The run this script runs in; an offline run outside the portal."""
        if cls._context is None:
            metrics_file = os.environ.get("PORTAL_METRICS_FILE", "")
            if not metrics_file and not allow_offline:
                raise RuntimeError(
                    "Run.get_context(allow_offline=False): this script is not running in the compute portal."
                )
            cls._context = cls._make(metrics_file, os.environ.get("PORTAL_RUN_DIR", ""))
        return cls._context

    @classmethod
    def get_submitted_run(cls, **kwargs):
        """The older name of get_context()."""
        return cls.get_context()

    @property
    def _offline(self):
        return not self._file

    def __repr__(self):
        return f"Run(experiment={self.experiment.name!r}, id={self.id!r})"

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise _unsupported(f"Run.{name}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    # ---- writing ----------------------------------------------------------------------------
    def _write(self, item):
        item["time"] = time.time()
        line = json.dumps(item, default=_plain)
        if len(line) > LINE_MAX:
            what = item.get("name") or item.get("key")
            print(
                f"azureml shim: {item.get('type', 'metric')} {what!r} was not logged: "
                f"{len(line)} bytes, over the {LINE_MAX}-byte limit of one metrics line.",
                file=sys.stderr,
            )
            return
        # One write per line, opened in append mode: lines never interleave.
        with open(self._file, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def _offline_note(self, kind, name, value):
        print(f"Attempted to log {kind} metric {name}:\n{value}")

    def _outputs(self):
        """The run's outputs folder (the one the portal collects), made if missing."""
        base = os.path.join(self._run_dir, "src") if self._run_dir else os.getcwd()
        path = os.path.join(base, "outputs")
        os.makedirs(path, exist_ok=True)
        return path

    def _under_outputs(self, path):
        """outputs/<...> for a file under the run's outputs folder, else None."""
        outputs = os.path.realpath(self._outputs())
        full = os.path.realpath(path)
        if full.startswith(outputs + os.sep):
            return "outputs/" + os.path.relpath(full, outputs).replace(os.sep, "/")
        return None

    # ---- metrics -----------------------------------------------------------------------------
    def log(self, name, value, description="", step=None):
        """A scalar metric; logged again under the same name, it is a series (charted)."""
        name = str(name)
        if step is None:
            step = self._steps.get(name, -1) + 1
        step = int(step)
        self._steps[name] = max(step, self._steps.get(name, -1))
        self._metrics.setdefault(name, []).append(value)
        if self._offline:
            self._offline_note("scalar", name, value)
            return
        self._write({"name": name, "step": step, "value": value})

    def log_list(self, name, value, description=""):
        """A list of values, shown as a table on the run page."""
        values = list(value)
        self._metrics.setdefault(str(name), []).extend(values)
        if self._offline:
            self._offline_note("list", name, values)
            return
        self._write({"type": "list", "name": str(name), "values": values})

    def log_row(self, name, description=None, **kwargs):
        """One row (column=value, ...) appended to the table ``name``."""
        table = self._metrics.setdefault(str(name), {})
        if isinstance(table, dict):
            for column, cell in kwargs.items():
                table.setdefault(column, []).append(cell)
        if self._offline:
            self._offline_note("row", name, kwargs)
            return
        self._write({"type": "row", "name": str(name), "row": kwargs})

    def log_table(self, name, value, description=""):
        """A table given as {column: [values]}, all columns of one length."""
        if not isinstance(value, dict):
            raise TypeError("log_table takes a dict of column name to a list of values.")
        columns = {str(column): list(cells) for column, cells in value.items()}
        table = self._metrics.setdefault(str(name), {})
        if isinstance(table, dict):
            for column, cells in columns.items():
                table.setdefault(column, []).extend(cells)
        if self._offline:
            self._offline_note("table", name, columns)
            return
        self._write({"type": "table", "name": str(name), "table": columns})

    def log_image(self, name, path=None, plot=None, description=""):
        """An image shown on the run page: a file (``path``) or a matplotlib
        figure (``plot``), saved as a png under outputs/."""
        if (path is None) == (plot is None):
            raise ValueError("log_image takes either path or plot.")
        name = str(name)
        if self._offline:
            self._offline_note("image", name, path if path is not None else plot)
            return
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:100] or "image"
        if plot is not None:
            target = self._free_name(os.path.join(self._outputs(), "images", stem + ".png"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            figure = plot.gcf() if hasattr(plot, "gcf") else plot  # pyplot itself, or a Figure
            figure.savefig(target, format="png", bbox_inches="tight")
            relative = self._under_outputs(target)
        else:
            relative = self._under_outputs(path)
            if relative is None:
                ext = os.path.splitext(str(path))[1][:10]
                target = self._free_name(os.path.join(self._outputs(), "images", stem + ext))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(path, target)
                relative = self._under_outputs(target)
        self._write({"type": "image", "name": name, "path": relative})

    @staticmethod
    def _free_name(path):
        stem, ext = os.path.splitext(path)
        n = 1
        while os.path.exists(path):
            path = f"{stem}_{n}{ext}"
            n += 1
        return path

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        """What this script logged: a value per scalar logged once, a list for
        a series or a list, {column: [values]} for a table."""
        metrics = {
            key: (value[0] if isinstance(value, list) and len(value) == 1 and key in self._steps else value)
            for key, value in self._metrics.items()
        }
        if name is not None:
            return {name: metrics[name]} if name in metrics else {}
        return metrics

    # ---- tags ---------------------------------------------------------------------------------
    def tag(self, key, value=None):
        """Tag the run (shown, and filterable, on the experiment page)."""
        self.set_tags({key: value})

    def set_tags(self, tags):
        if not isinstance(tags, dict):
            raise TypeError("set_tags takes a dict of tag name to value.")
        for key, value in tags.items():
            key, value = str(key), "" if value is None else str(value)
            self._tags[key] = value
            if self._offline:
                print(f"Attempted to set tag {key}:\n{value}")
            else:
                self._write({"type": "tag", "key": key, "value": value})

    def get_tags(self):
        return dict(self._tags)

    # ---- files -----------------------------------------------------------------------------------
    def upload_file(self, name, path_or_stream, datastore_name=None):
        """Copy a file (or a stream's content) to outputs/<name>, which the portal collects."""
        relative = str(name).replace("\\", "/").lstrip("/")
        relative = relative[len("outputs/") :] if relative.startswith("outputs/") else relative
        if not relative or ".." in relative.split("/"):
            raise ValueError(f"upload_file: {name!r} is not a relative file name.")
        if self._offline:
            print(f"Attempted to track file {name} at {path_or_stream}")
            return
        target = os.path.join(self._outputs(), *relative.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if isinstance(path_or_stream, str | os.PathLike):
            if os.path.realpath(path_or_stream) != os.path.realpath(target):
                shutil.copyfile(path_or_stream, target)
        else:
            data = path_or_stream.read()
            with open(target, "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)

    def upload_folder(self, name, path, datastore_name=None):
        """Copy a folder to outputs/<name>."""
        for folder, _, files in os.walk(path):
            for file in files:
                inside = os.path.relpath(os.path.join(folder, file), path).replace(os.sep, "/")
                self.upload_file(f"{str(name).rstrip('/')}/{inside}", os.path.join(folder, file))

    # ---- status: the portal records it from the script's exit code ----------------------------------
    def complete(self, _set_status=True):
        """Harmless: the portal marks the run Completed when the script exits with 0."""

    def fail(self, error_details=None, error_code=None, _set_status=True):
        """Harmless: the portal marks the run Failed when the script exits with an error."""
        if error_details is not None:
            print(f"Run.fail: {error_details}", file=sys.stderr)

    def flush(self, timeout_seconds=300):
        """Harmless: every call is written at once."""
