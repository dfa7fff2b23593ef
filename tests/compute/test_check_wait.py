"""A queued target check says what it waits for."""

import pytest
from django.urls import reverse

from compute import selectors, services
from compute.models import ComputeTarget, TargetState

pytestmark = pytest.mark.django_db


def test_a_queued_check_waits_for_a_worker_with_those_before_it(team, monkeypatch, login):
    local_target = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    ComputeTarget.objects.filter(pk=local_target.pk).update(state=TargetState.SUCCEEDED, activity="")
    local_target.refresh_from_db()
    monkeypatch.setattr("compute.tasks.check_target.delay", lambda pk: None)
    assert selectors.check_wait(local_target) == ""
    services.target_request_check(target=local_target, user=team.owner)
    local_target.refresh_from_db()
    assert selectors.check_wait(local_target) == "Waiting for a free worker on the targets queue."
    page = login(team.reader).get(reverse("target-detail", args=[local_target.name])).content.decode()
    assert f'id="target-{local_target.pk}-check-wait"' in page
