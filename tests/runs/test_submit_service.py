"""Submit and "Try the example" are services: the page, the API and the SDK
call the same functions, so each rule is written (and tested) once."""

import pytest
from django.urls import reverse

from compute.models import ComputeTarget, TargetState
from runs import services
from runs.models import Run

from .conftest import zip_file


@pytest.fixture
def engine(team):
    """A checked Docker engine: it hosts containers but runs no scripts itself."""
    return ComputeTarget.objects.create(
        workspace=team.workspace,
        name="engine1",
        kind="docker",
        state=TargetState.SUCCEEDED,
        config={"endpoint": "tcp://build1.lan:2376"},
    )


def _submit(team, target, snapshot, **changes):
    request = {
        "workspace": team.workspace,
        "user": team.contributor,
        "experiment_name": "exp1",
        "target": target,
        "snapshot": snapshot,
        "script": "train.py",
        "arguments": "--lr '0.1 x'",
        "environment": {"kind": "user", "interpreter": "python3"},
        **changes,
    }
    return services.run_submit(**request)


def test_the_submit_form_offers_only_targets_that_run_scripts(team, login, local_target, engine):
    page = login(team.contributor).get(reverse("run-submit")).content.decode()
    assert f'<option value="{local_target.pk}"' in page
    assert f'<option value="{engine.pk}"' not in page


def test_posting_an_engine_as_the_target_is_refused(team, login, local_target, engine):
    response = login(team.contributor).post(
        reverse("run-submit"),
        {
            "target": engine.pk,
            "experiment": "e",
            "script": "train.py",
            "environment": "user",
            "archive": zip_file([("train.py", b"print(1)")]),
        },
    )
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not Run.objects.exists()


def test_the_service_refuses_an_engine_with_a_clear_message(team, engine, make_snapshot):
    snapshot = make_snapshot({"train.py": "print(1)\n"})
    with pytest.raises(services.RunError, match="engine1 is a docker engine: it does not run scripts"):
        _submit(team, engine, snapshot)
    assert not Run.objects.exists()


def test_the_service_splits_arguments_and_normalizes_the_environment(team, local_target, make_snapshot):
    snapshot = make_snapshot({"train.py": "print(1)\n"})
    run = _submit(
        team,
        local_target,
        snapshot,
        environment={"kind": "pip", "requirements": "# pinned\nnumpy\n\n", "docker": False},
    )
    assert run.arguments == ["--lr", "0.1 x"]
    assert run.environment["kind"] == "pip" and run.environment["requirements"] == "numpy"


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"environment": {"kind": "user", "docker": True}}, "Use Docker needs a base image"),
        ({"environment": {"kind": "pip", "requirements": "-e ."}}, "Editable requirements"),
        ({"environment": {"kind": "nix"}}, "Unknown environment kind"),
        ({"arguments": "--name 'unclosed"}, "The arguments do not parse"),
        ({"snapshot": None}, "Choose a folder or an archive"),
        ({"target": None}, "Choose a compute target"),
        ({"script": "nope.py"}, "is not in the snapshot"),
    ],
)
def test_a_bad_request_stores_nothing(team, local_target, make_snapshot, changes, message):
    snapshot = make_snapshot({"train.py": "print(1)\n"})
    with pytest.raises(services.RunError, match=message):
        _submit(team, **{"target": local_target, "snapshot": snapshot, **changes})
    assert not Run.objects.exists()


def test_the_example_needs_a_local_computer(team, login):
    ComputeTarget.objects.filter(workspace=team.workspace, kind="local").delete()
    with pytest.raises(services.RunError, match="has not been granted"):
        services.run_example(workspace=team.workspace, user=team.contributor)
    response = login(team.contributor).post(reverse("run-example"), follow=True)
    assert "has not been granted" in response.content.decode()
    assert not Run.objects.exists()


def test_the_example_waits_for_the_local_computer_to_be_checked(team):
    ComputeTarget.objects.filter(workspace=team.workspace, kind="local").update(state=TargetState.FAILED)
    with pytest.raises(services.RunError, match="not ready yet"):
        services.run_example(workspace=team.workspace, user=team.contributor)
    assert not Run.objects.exists()


def test_the_example_is_queued_on_the_local_computer(team, local_target):
    run = services.run_example(workspace=team.workspace, user=team.contributor)
    assert run.target == local_target and run.experiment.name == "example-iris"
    assert run.environment["kind"] == "pip" and "scikit-learn" in run.environment["requirements"]
    assert "train.py" in {path for path, _ in run.snapshot.files}
