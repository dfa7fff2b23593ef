"""Re-run and "Run on another target…": the service, the page's form and the REST API."""

import pytest
from django.urls import reverse

from compute.models import ComputeTarget, TargetState
from portal import crypto
from runs import services
from runs.models import Run, RunStatus, Sweep


@pytest.fixture
def run(team, local_target, make_snapshot):
    snapshot = make_snapshot({"train.py": "print(1)\n", "requirements.txt": "numpy\n"})
    return services.run_submit(
        workspace=team.workspace,
        user=team.owner,
        experiment_name="exp1",
        snapshot=snapshot,
        script="train.py",
        arguments=["--alpha", "0.5"],
        target=local_target,
        environment={"kind": "pip", "requirements": "numpy\n"},
    )


def make_target(workspace, name="vm2", state=TargetState.SUCCEEDED):
    """An SSH target in a state; nothing connects to it (no run is executed here)."""
    return ComputeTarget.objects.create(
        workspace=workspace,
        name=name,
        kind="ssh",
        state=state,
        config={"address": "127.0.0.1", "port": 22, "username": "nobody", "workdir": "w"},
        encrypted_secrets={"password": crypto.encrypt("pw")},
    )


def assert_same_request(again, run):
    assert again.pk != run.pk and again.status == RunStatus.QUEUED
    assert (again.experiment, again.snapshot, again.script, again.arguments, again.environment) == (
        run.experiment,
        run.snapshot,
        run.script,
        run.arguments,
        run.environment,
    )


# ---- the service ------------------------------------------------------------------------


def test_rerun_repeats_the_run_on_its_target(team, run):
    again = services.run_rerun(run=run, user=team.contributor)
    assert_same_request(again, run)
    assert again.target == run.target and again.created_by == team.contributor


def test_rerun_on_another_target_changes_only_the_target(team, run):
    vm = make_target(team.workspace)
    again = services.run_rerun(run=run, user=team.contributor, target=vm)
    assert_same_request(again, run)
    assert again.target == vm


@pytest.mark.parametrize("state", [TargetState.FAILED, TargetState.STOPPED, TargetState.ATTACHING])
def test_a_target_not_ready_is_refused_and_nothing_is_stored(team, run, state):
    vm = make_target(team.workspace, state=state)
    with pytest.raises(services.RunError, match="vm2 is not ready"):
        services.run_rerun(run=run, user=team.contributor, target=vm)
    assert Run.objects.count() == 1


def test_another_workspaces_target_is_refused(team, run):
    theirs = make_target(team.other_workspace, name="theirs")
    with pytest.raises(services.RunError, match="workspace"):
        services.run_rerun(run=run, user=team.contributor, target=theirs)
    assert Run.objects.count() == 1


def test_a_run_whose_target_was_detached_needs_another(team, run):
    Run.objects.filter(pk=run.pk).update(target=None)
    run.refresh_from_db()
    with pytest.raises(services.RunError, match="detached"):
        services.run_rerun(run=run, user=team.contributor)
    assert (
        services.run_rerun(run=run, user=team.contributor, target=make_target(team.workspace)).target.name
        == "vm2"
    )


def test_a_sweep_is_refused_and_its_trial_runs_alone(team, run, make_snapshot):
    Sweep.objects.create(
        run=run, space={}, sampling="grid", primary_metric="acc", max_total_runs=2, max_concurrent_runs=1
    )
    with pytest.raises(services.RunError, match="is a sweep"):
        services.run_rerun(run=run, user=team.contributor)
    child = services.run_submit(
        workspace=team.workspace,
        user=team.owner,
        experiment_name="exp1",
        snapshot=run.snapshot,
        script="train.py",
        arguments=["--alpha", "0.25"],
        target=run.target,
        environment=run.environment,
        parent=run,
        trial_params={"--alpha": 0.25},
    )
    again = services.run_rerun(run=child, user=team.contributor)
    assert again.parent is None and again.trial_params is None and again.arguments == ["--alpha", "0.25"]


# ---- the page ----------------------------------------------------------------------------


def test_run_page_offers_rerun_and_the_runnable_targets(team, login, run):
    make_target(team.workspace, "vm2")
    make_target(team.workspace, "broken", state=TargetState.FAILED)
    page = login(team.contributor).get(reverse("run-detail", args=[run.pk])).content.decode()
    assert f'id="run-{run.pk}-rerun"' in page and f'id="run-{run.pk}-rerun-target"' in page
    assert '<option value="vm2">' in page and 'value="broken"' not in page


def test_rerun_from_the_page(team, login, run):
    response = login(team.contributor).post(reverse("run-rerun", args=[run.pk]))
    again = Run.objects.exclude(pk=run.pk).get()
    assert response.status_code == 302 and response.url == reverse("run-detail", args=[again.pk])
    assert again.target == run.target


def test_run_on_another_target_from_the_page(team, login, run):
    make_target(team.workspace, "vm2")
    login(team.contributor).post(reverse("run-rerun", args=[run.pk]), {"target": "vm2"})
    assert Run.objects.exclude(pk=run.pk).get().target.name == "vm2"


@pytest.mark.parametrize(
    ("target", "message"),
    [("nope", "no compute target “nope”"), ("broken", "The target broken is not ready (Failed)")],
)
def test_a_refused_rerun_says_why_on_the_run_page(team, login, run, target, message):
    make_target(team.workspace, "broken", state=TargetState.FAILED)
    response = login(team.contributor).post(
        reverse("run-rerun", args=[run.pk]), {"target": target}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("run-detail", args=[run.pk])
    assert message in response.content.decode()
    assert Run.objects.count() == 1


def test_reader_cannot_rerun_and_outsider_gets_404(team, login, run):
    assert login(team.reader).post(reverse("run-rerun", args=[run.pk])).status_code == 403
    assert login(team.outsider).post(reverse("run-rerun", args=[run.pk])).status_code == 404
    assert Run.objects.count() == 1


def test_try_the_example_asks_which_target(team, login, local_target):
    make_target(team.workspace, "vm2")
    client = login(team.contributor)
    page = client.get(reverse("experiment-list")).content.decode()
    assert f'<option value="{local_target.name}" selected>' in page and '<option value="vm2">' in page
    client.post(reverse("run-example"), {"target": "vm2"})
    assert Run.objects.get().target.name == "vm2"


def test_try_the_example_defaults_to_the_local_computer(team, login, local_target):
    login(team.contributor).post(reverse("run-example"))
    assert Run.objects.get().target == local_target


# ---- the REST API ------------------------------------------------------------------------


def rerun_url(team, run):
    return f"/api/v1/workspaces/{team.workspace.slug}/runs/{run.pk}/rerun/"


def test_api_rerun_on_its_target_and_another(team, api, run):
    make_target(team.workspace, "vm2")
    client = api(team.contributor, team.workspace)
    response = client.post(rerun_url(team, run), {}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["target"] == run.target.name
    response = client.post(rerun_url(team, run), {"target": "vm2"}, format="json")
    assert response.status_code == 201 and response.json()["target"] == "vm2"
    again = Run.objects.get(pk=response.json()["id"])
    assert_same_request(again, run)


def test_api_rerun_refusals(team, api, run):
    make_target(team.workspace, "broken", state=TargetState.FAILED)
    client = api(team.contributor, team.workspace)
    unknown = client.post(rerun_url(team, run), {"target": "nope"}, format="json")
    assert unknown.status_code == 400 and "nope" in unknown.content.decode()
    broken = client.post(rerun_url(team, run), {"target": "broken"}, format="json")
    assert broken.status_code == 400 and "not ready" in broken.content.decode()
    assert api(team.reader, team.workspace).post(rerun_url(team, run), {}, format="json").status_code == 403
    outsider = api(team.outsider, team.other_workspace)
    other_url = f"/api/v1/workspaces/{team.other_workspace.slug}/runs/{run.pk}/rerun/"
    assert outsider.post(other_url, {}, format="json").status_code == 404
    assert Run.objects.count() == 1
