"""Attaches whose check never started are picked up by the periodic check."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from compute import pickup
from compute.models import ComputeTarget, TargetState
from compute.tasks import check_stuck_attaches
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _age(target, seconds: float, **fields) -> None:
    ComputeTarget.objects.filter(pk=target.pk).update(
        updated_at=timezone.now() - timedelta(seconds=seconds), **fields
    )


def _local(workspace):
    return ComputeTarget.objects.get(workspace=workspace, kind="local")


@pytest.mark.integration
@pytest.mark.slow
def test_workspace_made_in_another_process_gets_its_local_target_checked(worker):
    # `manage.py shell` without REDIS_URL: the check goes to that process's
    # own in-memory broker and is lost with it.
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["DATABASE_URL"] = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict)
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    code = (
        "from django.contrib.auth import get_user_model as u; from portal.services import workspace_create as w;"
        "from compute.local_grant import local_target_grant as g;"
        "ws = w(name='Shell team', owner=u().objects.create_user('shelly')); g(workspace=ws); print(ws.pk)"
    )
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    target = _local(int(made.stdout.split()[-1]))
    assert target.state == TargetState.ATTACHING and target.last_checked is None

    _age(target, 90)
    check_stuck_attaches.delay()  # what celery beat sends every 30 s
    checked = wait_for(
        lambda: ComputeTarget.objects.filter(pk=target.pk, last_checked__isnull=False).first(),
        timeout=60,
        message="the stuck local target to be checked",
    )
    assert checked.state != TargetState.ATTACHING


def test_only_attaches_nobody_works_on_are_picked_up(team):
    stuck = _local(team.workspace)
    _age(stuck, 61)
    fresh = ComputeTarget.objects.create(workspace=team.workspace, name="fresh", kind="ssh")
    checking = ComputeTarget.objects.create(workspace=team.workspace, name="checking", kind="ssh")
    _age(checking, 120, activity="Preflight")  # a slow check, still within its timeouts
    died = ComputeTarget.objects.create(workspace=team.workspace, name="died", kind="ssh")
    _age(died, 11 * 60, activity="Preflight")  # its worker died mid-check
    done = ComputeTarget.objects.create(workspace=team.workspace, name="done", kind="ssh")
    _age(done, 600, state=TargetState.SUCCEEDED)

    assert sorted(check_stuck_attaches()) == sorted([stuck.pk, died.pk])
    assert ComputeTarget.objects.get(pk=died.pk).activity == pickup.QUEUED
    assert ComputeTarget.objects.get(pk=checking.pk).activity == "Preflight"
    # Claimed: the next beat, seconds later, leaves them to the check just queued.
    assert check_stuck_attaches() == []
    assert fresh.pk not in pickup.queue_stuck_attaches(now=timezone.now() + timedelta(seconds=30))
