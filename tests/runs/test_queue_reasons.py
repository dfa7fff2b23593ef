"""Queued says why: a free slot and its position, another run's environment build, a kind's own reason."""

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from compute.backends.local import LocalBackend
from runs import queue_reasons, services
from runs.lease import claim, owner_token
from runs.models import Run, RunStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(local_target, submit, monkeypatch):
    """Submits runs nobody executes: they stay queued."""
    monkeypatch.setattr("runs.tasks.prepare_run.delay", lambda run_id: None)
    return lambda **kw: submit(local_target, {"train.py": "print(1)\n"}, **kw)


def test_a_queued_run_waits_for_a_slot_with_its_position(queued, local_target):
    first, second, third = queued(), queued(), queued()
    assert queue_reasons.waiting_for(second) == (
        f"Waiting for a free worker slot: 2nd of 3 queued runs on {local_target.name}."
    )
    claim(first.pk, owner_token())
    assert queue_reasons.waiting_for(third).startswith("Waiting for a free worker slot: 2nd of 2")
    first.refresh_from_db()
    assert queue_reasons.waiting_for(first) == ""


def test_the_kinds_own_reason_comes_first(queued, monkeypatch):
    monkeypatch.setattr(
        LocalBackend, "queue_reason", lambda self, run: "Waiting for a cluster node to start."
    )
    assert queue_reasons.waiting_for(queued()) == "Waiting for a cluster node to start."


def test_a_run_waits_for_anothers_environment_build(queued):
    env = services.environment_spec(kind="pip", requirements="six")
    builder, waiter = queued(environment=env), queued(environment=env)
    other = queued(environment=services.environment_spec(kind="pip", requirements="numpy"))
    now = timezone.now()
    for i, run in enumerate((builder, waiter, other)):
        Run.objects.filter(pk=run.pk).update(
            status=RunStatus.PREPARING,
            substep="Building the environment",
            preparing_at=now + timezone.timedelta(seconds=i),
        )
        run.refresh_from_db()
    assert queue_reasons.waiting_for(waiter) == (
        f"Waiting for run {builder.pk}, which is building the same environment; then reusing it."
    )
    assert queue_reasons.waiting_for(builder) == ""
    assert queue_reasons.waiting_for(other) == ""


def test_the_run_page_and_api_say_what_it_waits_for(queued, client, team):
    run = queued()
    client.force_login(team.reader)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert f'id="run-{run.pk}-waiting"' in page and "1st of 1 queued run on" in page
    body = client.get(f"/api/v1/workspaces/{team.workspace.slug}/runs/{run.pk}/").json()
    assert body["waiting_for"].startswith("Waiting for a free worker slot: 1st of 1")


def test_claiming_a_run_pushes_the_runs_queued_behind_it(
    queued, monkeypatch, django_capture_on_commit_callbacks
):
    first, second = queued(), queued()
    sent = []
    monkeypatch.setattr("portal.live.send_later", lambda messages: sent.extend(messages))
    with django_capture_on_commit_callbacks(execute=True):
        claim(first.pk, owner_token())
    pushed = {group: message["html"] for group, message in sent}
    assert "1st of 1 queued run" in pushed[f"run-{second.pk}"]
    assert any("1 running" in html for group, html in pushed.items() if group.endswith("-targets"))


def test_active_runs_count_running_and_queued_apart(queued, local_target):
    queued(), queued()
    running = queued()
    Run.objects.filter(pk=running.pk).update(status=RunStatus.RUNNING)
    html = render_to_string("runs/_target_active_runs.html", {"target": local_target})
    assert "1 running" in html and "2 queued" in html
