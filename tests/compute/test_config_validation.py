"""A target's config is checked by its kind's form wherever it is saved: the
model's clean() asks the backend, so the Django admin cannot store a config
that the "+ Add" page would refuse."""

import json

import pytest
from django.core.exceptions import ValidationError

from compute.models import ComputeTarget, TargetState
from portal import crypto


def _ssh_config(**changes):
    return {"address": "127.0.0.1", "port": 2222, "username": "u", "workdir": "portal", **changes}


@pytest.fixture
def vm(team):
    """An attached VM with a stored password (no server needed: nothing connects)."""
    return ComputeTarget.objects.create(
        workspace=team.workspace,
        name="vm1",
        kind="ssh",
        state=TargetState.SUCCEEDED,
        config=_ssh_config(),
        encrypted_secrets={"password": crypto.encrypt("pw")},
    )


def test_a_valid_saved_config_passes(vm):
    vm.full_clean()


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"port": 70000}, "port: Ensure this value is less than or equal to 65535."),
        ({"address": "no-such-host.invalid"}, "does not resolve to an address"),
        ({"username": ""}, "username: This field is required."),
    ],
)
def test_a_bad_ssh_config_is_refused(vm, changes, message):
    vm.config = _ssh_config(**changes)
    with pytest.raises(ValidationError) as raised:
        vm.full_clean()
    assert any(message in m for m in raised.value.message_dict["config"])


def test_stored_credentials_count_but_none_at_all_is_refused(team):
    target = ComputeTarget(workspace=team.workspace, name="vm9", kind="ssh", config=_ssh_config())
    with pytest.raises(ValidationError, match="Give a password or a private key."):
        target.full_clean()


def test_an_engine_config_is_checked_by_the_engine_form(team):
    target = ComputeTarget(
        workspace=team.workspace, name="eng", kind="docker", config={"endpoint": "http://x"}
    )
    with pytest.raises(ValidationError, match="Start with unix:// or tcp://"):
        target.full_clean()
    target.config = {"endpoint": "unix:///var/run/docker.sock"}
    target.full_clean()


def test_unknown_kind_and_local_settings(team):
    with pytest.raises(ValidationError, match="Unknown compute kind"):
        ComputeTarget(workspace=team.workspace, name="x1", kind="mainframe").full_clean()
    local = ComputeTarget.objects.get(workspace=team.workspace, name="local")
    local.config = {"workdir": "relative/dir", "shell": "bash"}
    with pytest.raises(ValidationError) as raised:
        local.full_clean()
    assert raised.value.message_dict["config"] == [
        "shell: not a setting of the local computer.",
        "workdir: an absolute path on this machine.",
    ]


def _admin_post(client, target, config):
    data = {
        "workspace": target.workspace_id,
        "name": target.name,
        "kind": target.kind,
        "origin": target.origin,
        "state": target.state,
        "activity": "",
        "config": json.dumps(config),
        "last_error": "",
        "last_used_at_0": "",
        "last_used_at_1": "",
        "created_by": "",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "1000",
    }
    return client.post(f"/admin/compute/computetarget/{target.pk}/change/", data)


def test_admin_cannot_save_a_config_the_form_refuses(vm, client, django_user_model):
    target = vm
    before = dict(target.config)
    client.force_login(django_user_model.objects.create_superuser("root-admin", password="x"))

    response = _admin_post(client, target, _ssh_config(port=0))
    assert response.status_code == 200  # the form again, with the error
    assert "port: Ensure this value is greater than or equal to 1." in response.content.decode()
    target.refresh_from_db()
    assert target.config == before

    response = _admin_post(client, target, _ssh_config(username="deploy"))
    assert response.status_code == 302, response.content.decode()[:3000]
    target.refresh_from_db()
    assert target.config["username"] == "deploy" and target.has_secret("password")
