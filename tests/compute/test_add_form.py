"""The "+ Add compute" page: kinds from the registry, the SSH form's validation."""

import pytest

from compute.models import ComputeTarget, TargetState
from tests.conftest import SSH_PASSWORD


def form_data(**overrides):
    data = {
        "kind": "ssh",
        "name": "gpu-box",
        "address": "127.0.0.1",
        "port": "22",
        "username": "ml",
        "password": SSH_PASSWORD,
        "workdir": "portal",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_kinds_come_from_the_registry(team, login):
    page = login(team.contributor).get("/compute/add/").content.decode()
    assert "Virtual machine" in page and "Use existing" in page
    assert 'id="kind-local"' not in page  # the local computer is never added by hand


def test_htmx_swaps_in_the_kind_form(team, login):
    response = login(team.contributor).get("/compute/add/?kind=ssh", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="kind-form">')
    assert 'name="address"' in html and 'name="private_key"' in html and "<nav" not in html


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"name": "Bad Name!"}, "name", "lowercase letters, digits and dashes"),
        ({"name": "add"}, "name", "reserved"),
        ({"port": "70000"}, "port", "less than or equal to 65535"),
        ({"port": "0"}, "port", "greater than or equal to 1"),
        ({"address": "no-such-host.invalid"}, "address", "does not resolve"),
        ({"password": None}, None, "Give a password or a private key."),
        ({"private_key": "not a key"}, None, "Give a password or a private key, not both."),
        (
            {
                "password": None,
                "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
            },
            "private_key",
            "Not a private key",
        ),
        ({"known_hosts": "garbage"}, "known_hosts", "Paste one line of known_hosts"),
    ],
)
def test_bad_input_gets_a_clear_message_and_creates_nothing(team, login, overrides, field, message):
    count = ComputeTarget.objects.count()
    response = login(team.contributor).post("/compute/add/", form_data(**overrides))
    assert response.status_code == 400
    form = response.context["form"]
    errors = form.errors.get(field) if field else form.non_field_errors()
    assert any(message in e for e in errors), form.errors
    assert ComputeTarget.objects.count() == count
    assert SSH_PASSWORD not in response.content.decode()  # never echoed back into the form


@pytest.mark.integration
def test_name_must_be_unique_in_the_workspace_only(team, login, ssh_target):
    ssh_target("gpu-box")
    response = login(team.contributor).post("/compute/add/", form_data())
    assert "already exists" in response.context["form"].errors["name"][0]
    # the same name in another workspace is fine
    response = login(team.outsider).post("/compute/add/", form_data())
    assert response.status_code == 302


@pytest.mark.integration
def test_encrypted_key_needs_its_passphrase(team, login, ssh_env):
    response = login(team.contributor).post(
        "/compute/add/", form_data(password=None, private_key=ssh_env.encrypted_key)
    )
    assert "encrypted: give its passphrase" in response.context["form"].errors["private_key"][0]


@pytest.mark.integration
def test_valid_form_creates_an_attaching_target_with_encrypted_secrets(team, login, ssh_env):
    response = login(team.contributor).post("/compute/add/", form_data(port=str(ssh_env.port)))
    assert response.status_code == 302 and response.url == "/compute/gpu-box/"
    target = ComputeTarget.objects.get(name="gpu-box")
    assert target.state == TargetState.ATTACHING and target.origin == "attached"
    assert target.config == {
        "address": "127.0.0.1",
        "port": ssh_env.port,
        "username": "ml",
        "workdir": "portal",
    }
    assert SSH_PASSWORD not in str(target.encrypted_secrets)
    assert target.secret("password") == SSH_PASSWORD
    assert target.events.get().actor == team.contributor


@pytest.mark.integration
def test_pasted_known_hosts_line_is_pinned_up_front(team, login, ssh_env):
    line = f"[127.0.0.1]:{ssh_env.port} {ssh_env.host_key} comment"
    login(team.contributor).post("/compute/add/", form_data(known_hosts=line))
    assert ComputeTarget.objects.get(name="gpu-box").host_key == ssh_env.host_key


def test_htmx_submit_redirects_with_hx_header(team, login):
    response = login(team.contributor).post("/compute/add/", form_data(), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"] == "/compute/gpu-box/"
