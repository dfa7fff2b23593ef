"""Attaching a Docker engine: checked against podman's real API service."""

import tempfile
from pathlib import Path

import pytest

from compute import services
from compute.backends.docker_engine import DockerEngineForm
from compute.models import ComputeTarget, TargetState
from tests import podman, servers

pytestmark = [pytest.mark.integration]


def test_check_reads_version_os_cpus_memory_images_and_gpu_runtime(engine_target):
    target = engine_target()
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.SUCCEEDED, target.last_error
    caps = target.capabilities
    assert caps["engine_version"] and caps["api_version"]
    assert caps["os"] and caps["arch"] and caps["cpus"] >= 1 and caps["memory_mb"] > 100
    assert podman.PYTHON_IMAGE in caps["images"] and podman.BUSYBOX_IMAGE in caps["images"]
    assert caps["gpu_runtime"] is False and "runc" in caps["runtimes"]
    reason = target.events.first().reason
    assert reason.startswith("Check passed:") and "images" in reason and "no GPU runtime" in reason


def test_status_page_shows_the_engine(engine_target, team, login):
    target = engine_target()
    services.target_check(target_id=target.pk)
    page = login(team.reader).get(f"/compute/{target.name}/").content.decode()
    assert f'id="target-{target.pk}-capabilities"' in page
    assert podman.PYTHON_IMAGE in page and "GPU runtime" in page and "runc" in page
    assert target.config["endpoint"] in page


def test_unreachable_engine_says_so(engine_target, tmp_path):
    target = engine_target("engine-gone", endpoint=f"unix://{tmp_path}/nothing.sock")
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.FAILED
    assert "cannot be reached (no socket at that path)" in target.last_error


def test_engine_that_was_up_and_vanished_is_unreachable(engine_target, tmp_path):
    target = engine_target(
        "engine-flaky", endpoint=f"unix://{tmp_path}/nothing.sock", state=TargetState.SUCCEEDED
    )
    services.target_check(target_id=target.pk)
    assert ComputeTarget.objects.get(pk=target.pk).state == TargetState.UNREACHABLE


def test_engine_through_an_attached_ssh_vm(engine_target, ssh_target, podman_engine):
    """ssh://: the VM's pinned host key and credentials carry the API to its socket."""
    ssh_target("vm1", state=TargetState.SUCCEEDED)
    target = engine_target(
        "engine-ssh", endpoint="", ssh_target="vm1", remote_socket=str(podman_engine.socket)
    )
    target.config.pop("endpoint")
    target.save()
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.SUCCEEDED, target.last_error
    assert podman.BUSYBOX_IMAGE in target.capabilities["images"]
    assert target.capabilities["endpoint"] == f"ssh://vm1{podman_engine.socket}"


def test_engine_through_a_vm_with_a_changed_host_key_is_refused(
    engine_target, ssh_target, podman_engine, tmp_path
):
    other_key = servers.make_host_key(tmp_path / "other_key")
    ssh_target("vm1", state=TargetState.SUCCEEDED, host_key=other_key)
    target = engine_target("engine-ssh", ssh_target="vm1", remote_socket=str(podman_engine.socket))
    target.config.pop("endpoint")
    target.save()
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.FAILED and "HOST KEY CHANGED" in target.last_error
    assert "See vm1's page" in target.last_error and not target.pending_host_key


@pytest.mark.parametrize(
    "data,error",
    [
        ({"endpoint": "unix://relative.sock"}, "unix:// needs an absolute path"),
        ({"endpoint": "tcp://build1:2376"}, "tcp:// engines are reached with TLS only"),
        ({"endpoint": "tcp://build1"}, "Write tcp://host:port"),
        ({"endpoint": "http://x"}, "Start with unix:// or tcp://"),
        ({}, "Give an endpoint, or pick a VM"),
        (
            {"endpoint": "tcp://b:2376", "tls_ca": "x", "tls_cert": "y", "tls_key": "z"},
            "Paste the PEM text",
        ),
    ],
)
def test_engine_form_says_what_is_wrong(team, data, error):
    form = DockerEngineForm({"name": "eng", **data}, workspace=team.workspace)
    assert not form.is_valid()
    assert error in str(form.errors)


def _tls_target(team, tls_engine, name, cert, key):
    from portal import crypto

    secrets = {"tls_ca": tls_engine.pki["ca"], "tls_cert": cert, "tls_key": key}
    return ComputeTarget.objects.create(
        workspace=team.workspace,
        name=name,
        kind="docker",
        config={"endpoint": tls_engine.url},
        encrypted_secrets={k: crypto.encrypt(v) for k, v in secrets.items()},
    )


def test_tcp_engine_with_tls_client_certificates(team, tls_engine):
    pki = tls_engine.pki
    target = _tls_target(team, tls_engine, "engine-tls", pki["client_cert"], pki["client_key"])
    before = set(Path(tempfile.gettempdir()).glob("portal-tls-*"))
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.SUCCEEDED, target.last_error
    assert podman.PYTHON_IMAGE in target.capabilities["images"]
    # the certificates lived in 0600 files only while the client was open
    assert set(Path(tempfile.gettempdir()).glob("portal-tls-*")) == before


def test_tcp_engine_refuses_a_certificate_from_another_ca(team, tls_engine):
    pki = tls_engine.pki
    target = _tls_target(team, tls_engine, "engine-rogue", pki["stranger_cert"], pki["stranger_key"])
    refused = tls_engine.refused
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.FAILED
    assert "cannot be reached" in target.last_error and tls_engine.refused > refused


def test_tls_add_form_stores_certificates_encrypted(team, login, tls_engine):
    pki = tls_engine.pki
    response = login(team.contributor).post(
        "/compute/add/",
        {
            "kind": "docker",
            "name": "engine-form",
            "endpoint": tls_engine.url,
            "tls_ca": pki["ca"],
            "tls_cert": pki["client_cert"],
            "tls_key": pki["client_key"],
        },
    )
    assert response.status_code == 302
    target = ComputeTarget.objects.get(name="engine-form")
    assert target.config == {"endpoint": tls_engine.url}
    assert set(target.encrypted_secrets) == {"tls_ca", "tls_cert", "tls_key"}
    assert target.secret("tls_key") == pki["client_key"].strip()
    page = login(team.owner).get("/compute/engine-form/").content.decode()
    assert "Client key" in page  # shown as set, never its value (the scan middleware checks)
