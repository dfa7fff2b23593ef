"""Usage arithmetic on constructed intervals (runs on PostgreSQL and, with
DATABASE_URL=sqlite:///…, on SQLite: the aggregates are the database's)."""

from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from compute.models import NodeInterval
from dashboard import ranges, usage
from runs import usage as recording
from runs.models import RunAllocation

from .builders import allocate, at, make_run, make_target

UTC = ZoneInfo("UTC")


def window(start_h, end_h, tz=UTC):
    return ranges.Range(start=at(start_h), end=at(end_h), tz=tz)


@pytest.fixture
def gpu_box(team):
    return make_target(team.workspace, "gpu-box", cpus=8, gpus=2)


def test_overlapping_allocations_each_count(team, gpu_box):
    a = make_run(team.workspace, team.owner, target=gpu_box)
    b = make_run(team.workspace, team.contributor, target=gpu_box)
    allocate(a, at(1), at(3), cpus=4, gpus=1)  # 2 h
    allocate(b, at(2), at(5), cpus=2, gpus=2)  # 3 h, overlapping a's last hour
    totals = usage.usage_totals([team.workspace.pk], window(0, 10), now=at(10))
    assert totals["cpu_hours"] == pytest.approx(4 * 2 + 2 * 3)
    assert totals["gpu_hours"] == pytest.approx(1 * 2 + 2 * 3)
    assert totals["node_hours"] == pytest.approx(5)
    assert totals["runs"] == 2


def test_intervals_spanning_the_range_edges_count_their_inside_part(team, gpu_box):
    run = make_run(team.workspace, team.owner, target=gpu_box)
    allocate(run, at(-2), at(1), gpus=1)  # 1 h inside
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(9), at(14), gpus=1)  # 1 h inside
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(-5), None, gpus=1)  # open: whole range
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(-5), at(-1), gpus=1)  # before: nothing
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(11), None, gpus=1)  # after: nothing
    totals = usage.usage_totals([team.workspace.pk], window(0, 10), now=at(12))
    assert totals["gpu_hours"] == pytest.approx(1 + 1 + 10)
    assert totals["runs"] == 3


def test_an_open_allocation_counts_up_to_now(team, gpu_box):
    run = make_run(team.workspace, team.owner, target=gpu_box)
    allocate(run, at(1), None, gpus=2)
    totals = usage.usage_totals([team.workspace.pk], window(0, 10), now=at(4))
    assert totals["gpu_hours"] == pytest.approx(2 * 3)


def test_a_requeued_run_counts_both_attempts_and_each_waits(team, gpu_box):
    run = make_run(team.workspace, team.owner, target=gpu_box, status="Running", queued_at=at(0.5))
    recording.open_allocation(run, at(1))
    recording.close_allocations(run, at(2.5))  # preempted: the cluster requeues it
    run.attempt = 2
    recording.open_allocation(run, at(3))
    recording.close_allocations(run, at(4))
    rows = list(
        RunAllocation.objects.filter(run=run)
        .order_by("attempt")
        .values_list("started_at", "ended_at", "waited_seconds")
    )
    assert rows == [(at(1), at(2.5), 1800.0), (at(3), at(4), 1800.0)]
    totals = usage.usage_totals([team.workspace.pk], window(0, 10), now=at(10))
    assert totals["gpu_hours"] == pytest.approx(2 * (1.5 + 1))  # gpu-box: 2 GPUs
    assert totals["cpu_hours"] == pytest.approx(8 * 2.5)
    assert totals["runs"] == 2  # attempts


def test_starting_attempt_two_closes_an_attempt_one_left_open(team, gpu_box):
    run = make_run(team.workspace, team.owner, target=gpu_box)
    recording.open_allocation(run, at(1))
    run.attempt = 2
    recording.open_allocation(run, at(3))
    assert list(
        RunAllocation.objects.filter(run=run).order_by("attempt").values_list("ended_at", flat=True)
    ) == [
        at(3),
        None,
    ]


def test_opening_the_same_attempt_twice_changes_nothing(team, gpu_box):
    run = make_run(team.workspace, team.owner, target=gpu_box)
    first = recording.open_allocation(run, at(1))
    again = recording.open_allocation(run, at(2))
    assert again.pk == first.pk and again.started_at == at(1)


def test_multi_node_runs_count_nodes_times_hours(team):
    from compute.models import NodeSize

    NodeSize.objects.create(
        workspace=team.workspace, name="fat", cpu_cores=4, memory_gb=8, gpus=1, hourly_price=Decimal("1.50")
    )
    cluster = make_target(team.workspace, "cluster", kind="slurm", cpus=0, gpus=0)
    cluster.config = {"mode": "create", "size": "fat"}
    cluster.save()
    run = make_run(team.workspace, team.owner, target=cluster, node_count=4)
    held = recording.open_allocation(run, at(0))
    assert (held.cpus, held.gpus, held.node_count, held.hourly_price) == (16, 4, 4, Decimal("6.00"))
    recording.close_allocations(run, at(2))
    totals = usage.usage_totals([team.workspace.pk], window(0, 10), now=at(10))
    assert totals["node_hours"] == pytest.approx(4 * 2)
    assert totals["cpu_hours"] == pytest.approx(16 * 2)
    assert totals["gpu_hours"] == pytest.approx(4 * 2)
    assert totals["cost"] == pytest.approx(12.0)


def test_usage_by_user_experiment_and_target(team, gpu_box):
    cpu_box = make_target(team.workspace, "cpu-box", cpus=4, gpus=0)
    allocate(make_run(team.workspace, team.owner, target=gpu_box, experiment="vision"), at(0), at(2), gpus=1)
    allocate(
        make_run(team.workspace, team.contributor, target=cpu_box, experiment="nlp"), at(0), at(1), cpus=4
    )
    allocate(
        make_run(team.workspace, team.contributor, target=gpu_box, experiment="vision"), at(1), at(4), gpus=2
    )
    by_user = {r["name"]: r for r in usage.usage_by([team.workspace.pk], window(0, 10), "user", now=at(10))}
    assert by_user["olivia"]["gpu_hours"] == pytest.approx(2)
    assert by_user["carlos"]["gpu_hours"] == pytest.approx(6)
    assert by_user["carlos"]["runs"] == 2
    by_exp = {
        r["name"]: r for r in usage.usage_by([team.workspace.pk], window(0, 10), "experiment", now=at(10))
    }
    assert by_exp["vision"]["gpu_hours"] == pytest.approx(8) and by_exp["nlp"]["cpu_hours"] == pytest.approx(
        4
    )
    by_target = usage.usage_by([team.workspace.pk], window(0, 10), "target", now=at(10))
    assert [r["name"] for r in by_target] == ["gpu-box", "cpu-box"]  # most GPU-hours first


def test_another_workspace_is_never_counted(team, gpu_box):
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(0), at(1), gpus=1)
    theirs = make_target(team.other_workspace, "theirs")
    allocate(make_run(team.other_workspace, team.outsider, target=theirs), at(0), at(5), gpus=8)
    assert usage.usage_totals([team.workspace.pk], window(0, 10), now=at(10))["gpu_hours"] == pytest.approx(1)
    assert usage.usage_totals(None, window(0, 10), now=at(10))["gpu_hours"] == pytest.approx(41)


def test_hourly_series_cuts_intervals_at_bucket_edges(team, gpu_box):
    allocate(
        make_run(team.workspace, team.owner, target=gpu_box), at(0.25), at(0.75), gpus=1
    )  # inside hour 0
    allocate(
        make_run(team.workspace, team.owner, target=gpu_box), at(1.5), at(3.5), gpus=1
    )  # crosses two edges
    allocate(
        make_run(team.workspace, team.owner, target=gpu_box), at(-1), at(0.5), gpus=2
    )  # crosses the start
    series = usage.usage_series([team.workspace.pk], window(0, 4), now=at(4))
    assert [round(b["gpu_hours"], 6) for b in series] == [0.5 + 1.0, 0.5, 1.0, 0.5]
    assert sum(b["gpu_hours"] for b in series) == pytest.approx(
        usage.usage_totals([team.workspace.pk], window(0, 4), now=at(4))["gpu_hours"]
    )


def test_daily_buckets_follow_the_time_zone(team, gpu_box):
    new_york = ZoneInfo("America/New_York")  # UTC-5 in November
    # 2026-11-20 03:00-05:00 UTC is 22:00-24:00 on the 19th in New York.
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(3), at(5), gpus=1)
    # 04:00-06:00 UTC is 23:00-01:00: one hour on each side of New York's midnight.
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(4), at(6), gpus=2)
    rng = ranges.custom(date(2026, 11, 19), date(2026, 11, 20), tz=new_york, now=at(100))
    series = usage.usage_series([team.workspace.pk], rng, now=at(100))
    assert [b["label"] for b in series] == ["Nov 19", "Nov 20"]
    assert [b["gpu_hours"] for b in series] == pytest.approx([2 + 2, 0 + 2])
    in_utc = usage.usage_series(
        [team.workspace.pk],
        ranges.custom(date(2026, 11, 19), date(2026, 11, 20), tz=UTC, now=at(100)),
        now=at(100),
    )
    assert [b["gpu_hours"] for b in in_utc] == pytest.approx([0, 6])


def test_node_availability_sums_up_time_inside_the_range(team):
    cluster = make_target(team.workspace, "cluster", kind="slurm")
    NodeInterval.objects.create(target=cluster, node="n1", started_at=at(-3), ended_at=at(2), cpus=2)
    NodeInterval.objects.create(target=cluster, node="n2", started_at=at(5), ended_at=None, cpus=2)
    assert usage.node_availability([team.workspace.pk], window(0, 10), now=at(8)) == {
        cluster.pk: pytest.approx((2 + 3) * 3600)
    }


def test_queue_wait_percentiles_by_cluster_and_partition(team, gpu_box):
    from dashboard import figures

    for wait in (10, 20, 30, 40, 100):
        run = make_run(team.workspace, team.owner, target=gpu_box, partition="gpu")
        allocate(run, at(1), at(2), waited=wait)
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(-3), at(-2), waited=5)  # started before
    (row,) = figures.queue_waits([team.workspace.pk], window(0, 10))
    assert (row["name"], row["partition"], row["runs"]) == ("gpu-box", "gpu", 5)
    assert row["p50"] == pytest.approx(30) and row["p95"] == pytest.approx(88)  # percentile_cont


def test_efficiency_is_used_over_held_by_user(team, gpu_box):
    from dashboard import figures
    from runs.models import SystemSample

    run = make_run(team.workspace, team.owner, target=gpu_box)
    for used, seconds in ((0.02, 100), (0.06, 100)):  # 4 % of one GPU on average
        SystemSample.objects.create(
            run=run,
            at=at(1) + timedelta(seconds=seconds),
            seconds=seconds,
            cpu_cores=2,
            gpu_used=used,
            cpus_held=8,
            gpus_held=1,
        )
    (row,) = figures.efficiency([team.workspace.pk], window(0, 10), "user")
    assert row["name"] == "olivia"
    assert row["gpu_share"] == pytest.approx(0.04) and row["cpu_share"] == pytest.approx(0.25)


def test_an_allocation_over_several_days_fills_each_day(team, gpu_box):
    # Nov 19 12:00 to Nov 21 06:00 UTC, and one still open since Nov 21 18:00
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(-12), at(30), gpus=1)
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(42), None, gpus=2)
    rng = ranges.custom(date(2026, 11, 19), date(2026, 11, 21), tz=UTC, now=at(100))
    series = usage.usage_series([team.workspace.pk], rng, now=at(100))
    assert [b["gpu_hours"] for b in series] == pytest.approx([12, 24, 6 + 2 * 6])
    assert [b["node_hours"] for b in series] == pytest.approx([12, 24, 6 + 6])


def test_gpu_hours_for_quotas_match_the_totals(team, gpu_box):
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(-1), at(2), gpus=2)
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(1), None, gpus=1, cpus=3)
    allocate(make_run(team.workspace, team.owner, target=gpu_box), at(1), at(3), gpus=0, cpus=3)
    assert usage.gpu_hours([team.workspace.pk], window(0, 10), now=at(5)) == pytest.approx(2 * 2 + 4)
    assert usage.gpu_hours([team.workspace.pk], window(0, 10), now=at(5)) == pytest.approx(
        usage.usage_totals([team.workspace.pk], window(0, 10), now=at(5))["gpu_hours"]
    )
