"""Replacing a password or key checks the target with it at once."""

import pytest
from django.urls import reverse

from compute import services
from compute.models import ComputeTarget, TargetState
from portal import crypto
from tests.conftest import SSH_PASSWORD


def make_ssh(workspace, state):
    return ComputeTarget.objects.create(
        workspace=workspace,
        name="vm1",
        kind="ssh",
        state=state,
        config={"address": "127.0.0.1", "port": 22, "username": "nobody", "workdir": "w"},
        encrypted_secrets={"password": crypto.encrypt("old")},
    )


def reasons(target):
    return [event.reason for event in target.events.order_by("at", "pk")]


@pytest.fixture
def checks(monkeypatch):
    """The target ids whose check was queued."""
    queued = []
    monkeypatch.setattr("compute.tasks.check_target.delay", queued.append)
    return queued


@pytest.mark.parametrize("state", [TargetState.SUCCEEDED, TargetState.FAILED, TargetState.UNREACHABLE])
def test_replacing_a_password_queues_a_check(team, checks, state, django_capture_on_commit_callbacks):
    target = make_ssh(team.workspace, state)
    with django_capture_on_commit_callbacks(execute=True):
        services.target_set_secret(target=target, user=team.contributor, field="password", value="new")
    target.refresh_from_db()
    assert checks == [target.pk]
    assert target.activity == "Queued for a check" and target.secret("password") == "new"
    assert reasons(target)[-1] == "Password replaced, re-checking."
    assert target.events.order_by("at", "pk").last().actor == team.contributor


@pytest.mark.parametrize("state", [TargetState.STOPPED, TargetState.ATTACHING, TargetState.HOST_KEY_PENDING])
def test_no_check_where_a_check_cannot_run_now(team, checks, state, django_capture_on_commit_callbacks):
    target = make_ssh(team.workspace, state)
    with django_capture_on_commit_callbacks(execute=True):
        services.target_set_secret(target=target, user=team.contributor, field="password", value="new")
    target.refresh_from_db()
    assert checks == [] and reasons(target)[-1] == "Password replaced."
    assert target.secret("password") == "new"


def test_a_refused_secret_queues_nothing(team, checks, django_capture_on_commit_callbacks):
    target = make_ssh(team.workspace, TargetState.FAILED)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(services.TargetActionError):
        services.target_set_secret(target=target, user=team.contributor, field="private_key", value="nope")
    assert checks == [] and reasons(target) == []


@pytest.mark.integration  # ssh_target: the test sshd
def test_a_wrong_password_replaced_from_the_page_checks_and_succeeds(
    team, login, ssh_target, monkeypatch, django_capture_on_commit_callbacks
):
    target = ssh_target("vm1", password="wrong-password", state=TargetState.FAILED)
    monkeypatch.setattr(
        "compute.tasks.check_target.delay", lambda target_id: services.target_check(target_id=target_id)
    )
    with django_capture_on_commit_callbacks(execute=True):
        login(team.contributor).post(
            reverse("target-secret", args=["vm1", "password"]), {"action": "replace", "value": SSH_PASSWORD}
        )
    target.refresh_from_db()
    assert target.state == TargetState.SUCCEEDED, target.last_error
    assert "Password replaced, re-checking." in reasons(target)
    page = login(team.reader).get(reverse("target-detail", args=["vm1"])).content.decode()
    assert "Password replaced, re-checking." in page
