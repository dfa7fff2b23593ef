"""The dashboard's tables: one shape for the page (a chart and its plain
table), the CSV export and the admin's installation-wide view."""

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.utils import timezone

from . import figures, usage
from .ranges import Range

CHART_ROWS = 12  # bars per chart; the table and the CSV have every row


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    chart: dict | None = None  # {"type": "bar", "labels": [...], "datasets": [{"label", "data"}], ...}
    note: str = ""

    def chart_from(
        self, kind: str, label_column: int, value_columns: list[int], *, all_rows=False, **options
    ) -> "Table":
        rows = self.rows if all_rows else self.rows[:CHART_ROWS]
        self.chart = {
            "type": kind,
            "labels": [str(row[label_column]) for row in rows],
            "datasets": [{"label": self.columns[i], "data": [row[i] for row in rows]} for i in value_columns],
            **options,
        }
        return self


@dataclass
class Context:
    """What every table of one report shares: its scope, range and moment,
    and the one grouped pass over the range's allocations."""

    workspaces: list[int] | None
    rng: Range
    now: datetime

    @cached_property
    def usage(self) -> usage.UsageRows:
        return usage.UsageRows(self.workspaces, self.rng, now=self.now)

    @cached_property
    def efficiency(self) -> figures.Efficiency:
        return figures.Efficiency(self.workspaces, self.rng)


def _r(value, digits=2):
    return None if value is None else round(value, digits)


def _pct(share):
    return None if share is None else round(share * 100, 1)


def usage_over_time(ctx: Context) -> Table:
    table = Table(
        "usage-over-time",
        f"Usage per {ctx.rng.unit}",
        ["Start", "CPU-core-hours", "GPU-hours", "Node-hours"],
        [
            [b["label"], _r(b["cpu_hours"]), _r(b["gpu_hours"]), _r(b["node_hours"])]
            for b in usage.usage_series(ctx.workspaces, ctx.rng, now=ctx.now)
        ],
    )
    return table.chart_from("bar", 0, [1, 2, 3], all_rows=True)


def usage_by(group: str, title: str):
    def build(ctx: Context) -> Table:
        rows = ctx.usage.by(group)
        table = Table(
            f"usage-by-{group}",
            title,
            [group.capitalize(), "Runs", "CPU-core-hours", "GPU-hours", "Node-hours"],
            [
                [r["name"], r["runs"], _r(r["cpu_hours"]), _r(r["gpu_hours"]), _r(r["node_hours"])]
                for r in rows
            ],
        )
        return table.chart_from("bar", 0, [2, 3], horizontal=True)

    return build


def utilization(ctx: Context) -> Table:
    rows = figures.utilization(ctx.workspaces, ctx.rng, ctx.usage.node_seconds_by_target(), now=ctx.now)
    table = Table(
        "utilization",
        "Utilization per target and cluster",
        ["Target", "Kind", "Busy node-hours", "Available node-hours", "Utilization (%)"],
        [
            [
                r["name"],
                "cluster" if r["cluster"] else "machine",
                _r(r["busy_hours"]),
                _r(r["available_hours"]),
                _pct(r["share"]),
            ]
            for r in rows
        ],
        note="Busy time ÷ available time; a cluster is available while its nodes are up.",
    )
    return table.chart_from("bar", 0, [4], max=100)


def efficiency(group: str, title: str):
    def build(ctx: Context) -> Table:
        rows = ctx.efficiency.by(group)
        table = Table(
            f"efficiency-by-{group}",
            title,
            [group.capitalize(), "Sampled hours", "CPU used ÷ held (%)", "GPU used ÷ held (%)"],
            [[r["name"], _r(r["sampled_hours"]), _pct(r["cpu_share"]), _pct(r["gpu_share"])] for r in rows],
            note="From the runs' system samples: what their processes used of what they held.",
        )
        return table.chart_from("bar", 0, [2, 3], max=100, horizontal=True)

    return build


def queue(ctx: Context) -> Table:
    rows = figures.queue_waits(ctx.workspaces, ctx.rng)
    table = Table(
        "queue-waits",
        "Queue wait by cluster and partition",
        ["Target", "Partition", "Runs started", "Wait p50 (s)", "Wait p95 (s)"],
        [[r["name"], r["partition"], r["runs"], _r(r["p50"], 1), _r(r["p95"], 1)] for r in rows],
        note="From queued to running, for runs that started in the range.",
    )
    table.chart_from("bar", 0, [3, 4])
    table.chart["labels"] = [f"{r[0]} · {r[1]}" for r in table.rows[:CHART_ROWS]]
    return table


def outcomes(ctx: Context) -> Table:
    by_status = [r for r in figures.outcomes(ctx.workspaces, ctx.rng) if r["runs"]]
    table = Table(
        "outcomes",
        "Outcomes of runs that ended",
        ["Outcome", "Runs"],
        [[r["name"], r["runs"]] for r in by_status],
    )
    return table.chart_from("doughnut", 0, [1])


def failure_reasons(ctx: Context) -> Table:
    top = figures.failure_reasons(ctx.workspaces, ctx.rng)
    return Table(
        "failure-reasons",
        "Top failure reasons",
        ["What failed", "Reason", "Runs"],
        [[r["kind"], r["reason"], r["runs"]] for r in top],
    )


def cost(ctx: Context) -> Table:
    rows = [r for r in ctx.usage.by("target") if r["cost"] is not None]
    table = Table(
        "cost",
        "Cost by target",
        ["Target", "Runs", "Node-hours", "Cost"],
        [[r["name"], r["runs"], _r(r["node_hours"]), _r(r["cost"])] for r in rows],
        note="Only where an owner set an hourly price (a node size's or the target's).",
    )
    return table.chart_from("bar", 0, [3], horizontal=True)


TABLES = {
    "usage-over-time": usage_over_time,
    "usage-by-user": usage_by("user", "Usage by user"),
    "usage-by-experiment": usage_by("experiment", "Usage by experiment"),
    "usage-by-target": usage_by("target", "Usage by target"),
    "utilization": utilization,
    "efficiency-by-user": efficiency("user", "Efficiency by user"),
    "efficiency-by-experiment": efficiency("experiment", "Efficiency by experiment"),
    "queue-waits": queue,
    "outcomes": outcomes,
    "failure-reasons": failure_reasons,
    "cost": cost,
}


def by_workspace(rng: Range, *, now=None) -> Table:
    """The installation's usage by workspace (the admin site's view only)."""
    return usage_by("workspace", "Usage by workspace")(Context(None, rng, now or timezone.now()))


def table(key: str, workspaces, rng: Range, *, now=None) -> Table:
    """One table by its key (KeyError for an unknown one)."""
    return TABLES[key](Context(workspaces, rng, now or timezone.now()))


def report(workspaces, rng: Range, *, now=None) -> dict:
    """Everything the page shows for the range."""
    ctx = Context(workspaces, rng, now or timezone.now())
    return {
        "totals": ctx.usage.totals(),
        # by key with underscores, as templates read them
        "tables": {key.replace("-", "_"): build(ctx) for key, build in TABLES.items()},
    }
