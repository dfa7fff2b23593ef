"""portal_run: log metrics from a script run by the compute portal.

    from portal_run import Run
    run = Run.get_context()
    run.log("loss", 0.25, step=3)
    run.log_list("accuracy", [0.7, 0.8, 0.9])

Inside a portal run, each call appends one JSON line to the run's metrics
file, which the portal reads like the log: no network needed. Outside the
portal the calls do nothing and a warning says so once.
"""

import json
import math
import os
import time
import warnings

__all__ = ["Run"]


class Run:
    _context = None

    def __init__(self, path):
        self._path = path
        self._steps = {}
        self.id = os.environ.get("PORTAL_RUN_ID", "")

    @classmethod
    def get_context(cls):
        if cls._context is None:
            path = os.environ.get("PORTAL_METRICS_FILE")
            if not path:
                warnings.warn(
                    "portal_run: not running inside the compute portal; metrics are not recorded.",
                    stacklevel=2,
                )
            cls._context = cls(path)
        return cls._context

    @property
    def offline(self):
        return not self._path

    def log(self, name, value, step=None):
        """Record ``value`` for metric ``name`` at ``step`` (default: the next step)."""
        name = str(name)
        value = float(value)
        if step is None:
            step = self._steps.get(name, -1) + 1
        step = int(step)
        self._steps[name] = max(step, self._steps.get(name, -1))
        if self._path is None:
            return
        if math.isnan(value) or math.isinf(value):
            value = None
        line = json.dumps({"name": name, "step": step, "value": value, "time": time.time()})
        # One write per line, opened in append mode: lines never interleave.
        with open(self._path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def log_list(self, name, values):
        for value in values:
            self.log(name, value)
