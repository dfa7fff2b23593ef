"""The local computer is granted per workspace by a superuser, never given."""

import io
import stat
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.template.loader import render_to_string
from django.urls import reverse

from compute import services
from compute.models import ComputeTarget, TargetEvent, TargetState
from portal.models import Workspace
from runs.models import Run
from tests.runs.conftest import folder_upload


def grant(workspace, *flags):
    out = io.StringIO()
    call_command("grant_local_target", workspace.slug, *flags, stdout=out)
    return out.getvalue()


def unfinished_run(workspace, user, target):
    from runs import services as runs

    target.state = TargetState.SUCCEEDED
    target.save(update_fields=["state"])
    snapshot = runs.snapshot_create(workspace=workspace, files=folder_upload({"train.py": "print(1)\n"}))
    return runs.run_submit(
        workspace=workspace,
        user=user,
        experiment_name="exp1",
        snapshot=snapshot,
        script="train.py",
        arguments=[],
        target=target,
        environment={"kind": "user", "interpreter": "python3"},
    )


def test_a_workspace_without_the_grant_has_no_local_computer_and_its_pages_work(team, login):
    client = login(team.outsider)
    assert not ComputeTarget.objects.filter(workspace=team.other_workspace).exists()
    page = client.get(reverse("target-list")).content.decode()
    assert "/compute/local/" not in page
    assert client.get(reverse("run-submit")).status_code == 200
    response = client.post(reverse("run-example"), follow=True)
    assert "has not been granted" in response.content.decode()
    assert not Run.objects.exists()


def test_grant_creates_the_local_computer_and_queues_its_check(team, django_capture_on_commit_callbacks):
    workspace = team.other_workspace
    with django_capture_on_commit_callbacks() as queued:
        assert "granted" in grant(workspace)
    assert len(queued) == 1  # the check
    workspace.refresh_from_db()
    assert workspace.local_target_allowed
    target = ComputeTarget.objects.get(workspace=workspace, kind="local")
    assert target.name == "local" and target.state == TargetState.ATTACHING
    assert TargetEvent.objects.filter(target=target, reason__contains="Granted").exists()
    grant(workspace)  # again: nothing new
    assert ComputeTarget.objects.filter(workspace=workspace).count() == 1


def test_revoke_removes_it_and_is_refused_while_a_run_is_unfinished(team):
    local = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    run = unfinished_run(team.workspace, team.contributor, local)
    with pytest.raises(CommandError, match="1 unfinished run"):
        grant(team.workspace, "--revoke")
    assert ComputeTarget.objects.filter(pk=local.pk).exists()
    assert Workspace.objects.get(pk=team.workspace.pk).local_target_allowed

    Run.objects.filter(pk=run.pk).update(status="Completed")
    assert "revoked" in grant(team.workspace, "--revoke")
    assert not ComputeTarget.objects.filter(pk=local.pk).exists()
    assert not Workspace.objects.get(pk=team.workspace.pk).local_target_allowed
    run.refresh_from_db()
    assert run.target is None  # its history stays


def test_grant_of_an_unknown_workspace_or_a_taken_name_is_refused_plainly(team):
    with pytest.raises(CommandError, match="There is no workspace “nope”"):
        call_command("grant_local_target", "nope")
    ComputeTarget.objects.filter(workspace=team.workspace, kind="local").delete()
    Workspace.objects.filter(pk=team.workspace.pk).update(local_target_allowed=False)
    ComputeTarget.objects.create(
        workspace=team.workspace, name="local", kind="ssh", config={"address": "10.0.0.9", "username": "u"}
    )
    with pytest.raises(CommandError, match="already has a target named “local”"):
        grant(team.workspace)
    assert not Workspace.objects.get(pk=team.workspace.pk).local_target_allowed
    assert not ComputeTarget.objects.filter(workspace=team.workspace, kind="local").exists()


def _admin_post(client, workspace, allowed):
    data = {
        "name": workspace.name,
        "slug": workspace.slug,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    if allowed:
        data["local_target_allowed"] = "on"
    return client.post(f"/admin/portal/workspace/{workspace.pk}/change/", data)


def test_the_admin_toggle_grants_and_revokes(team, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="x"))
    workspace = team.other_workspace
    assert _admin_post(client, workspace, True).status_code == 302
    local = ComputeTarget.objects.get(workspace=workspace, kind="local")

    run = unfinished_run(workspace, team.outsider, local)
    response = _admin_post(client, workspace, False)
    assert response.status_code == 200
    assert "1 run(s) on the local computer are unfinished" in response.content.decode()
    assert ComputeTarget.objects.filter(pk=local.pk).exists()

    Run.objects.filter(pk=run.pk).update(status="Canceled")
    assert _admin_post(client, workspace, False).status_code == 302
    assert not ComputeTarget.objects.filter(workspace=workspace).exists()
    assert not Workspace.objects.get(pk=workspace.pk).local_target_allowed


def test_the_not_root_notice_says_runs_have_the_portals_rights(team):
    target = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    context = {"target": target, "workspace": team.workspace}
    notice = render_to_string("compute/_local_rights_notice.html", {**context, "portal_rights": True})
    assert "Runs here have the portal's own rights" in notice
    assert "can read its database and keys" in notice
    assert "PORTAL_LOCAL_RUN_USER" in notice and "grant_local_target vision-team --revoke" in notice
    assert (
        render_to_string("compute/_local_rights_notice.html", {**context, "portal_rights": False}).strip()
        == ""
    )


def test_the_page_has_no_notice_when_the_portal_is_root(team, login):
    assert settings.PORTAL_IS_ROOT  # the tests run as root: runs drop to the run user
    page = login(team.reader).get("/compute/local/").content.decode()
    assert "Local computer" in page
    assert "portal-rights" not in page


@pytest.mark.integration
def test_the_check_fails_plainly_when_the_run_user_is_missing(team, settings):
    settings.LOCAL_RUN_USER = "portal-no-such-user"
    target = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.FAILED
    assert "portal-no-such-user" in target.last_error and "setup_local_runner" in target.last_error


@pytest.mark.integration
def test_the_check_refuses_a_workdir_inside_the_var_dir(team):
    target = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    target.config = {"workdir": str(Path(settings.VAR_DIR) / "local-target")}
    target.save()
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.FAILED
    assert "inside the portal's private folder" in target.last_error


@pytest.mark.integration
def test_the_check_runs_as_the_run_user_in_a_folder_it_owns(team, local_run_user):
    import pwd

    target = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.SUCCEEDED, target.last_error
    workdir = Path(settings.LOCAL_WORKDIR)
    assert workdir.stat().st_uid == pwd.getpwnam(local_run_user).pw_uid
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700


def test_setup_local_runner_is_safe_to_run_again(local_run_user):
    out = io.StringIO()
    call_command("setup_local_runner", stdout=out)
    assert f"Local runs execute as {local_run_user}" in out.getvalue()
    assert "Created" not in out.getvalue()
