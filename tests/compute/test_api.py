"""The compute targets' REST API: every endpoint, its roles, its scoping and its errors.

Targets are made in the database (no server is contacted: checks and lifecycle
tasks are queued on commit, which these tests never reach); the end-to-end
flow against the real sshd and worker is in test_api_flow.py. Every response
goes through tests/secret_scan.py's middleware, which fails on a planted secret."""

import base64
import json
import os
import subprocess
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from compute import hostkeys
from compute.models import ComputeTarget, Origin, TargetEvent, TargetState
from portal import crypto
from portal.models import ApiToken
from tests.conftest import SSH_PASSWORD
from tests.factories import make_token
from tests.secret_scan import SecretLeak, plant

ENGINE_CAPS = {
    "cpus": 8,
    "memory_mb": 16 * 1024,
    "gpu_runtime": False,
    "images": ["python:3.11-slim"],
    "engine": "Podman Engine",
    "engine_version": "4.3",
    "os": "debian",
}


class Api:
    """A client that speaks JSON with a Bearer token (or a signed-in session)."""

    def __init__(self, workspace_slug: str, *, token: str | None = None, client: Client | None = None):
        self.base = f"/api/v1/workspaces/{workspace_slug}"
        self.client = client or Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def _call(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs = {"content_type": "application/json"} if data is not None else {}
        call = getattr(self.client, method)
        response = (
            call(self.base + path, data, **kwargs, **self.headers)
            if data
            else call(self.base + path, **self.headers)
        )
        assert response["Content-Type"].startswith("application/json"), response.content[:200]
        return response

    def get(self, path):
        return self._call("get", path)

    def post(self, path, body=None, raw=None):
        return self._call("post", path, body, raw)

    def delete(self, path):
        return self._call("delete", path)


@pytest.fixture
def api(team):
    """``api(user)``: an Api with that user's token in the team's workspace (this module's
    own: it also sends a token to another workspace's slug; conftest's ``api`` cannot)."""

    def _api(user, *, workspace=None, slug=None, **token_options):
        workspace = workspace or team.workspace
        token = make_token(user, workspace, **token_options)
        return Api(slug or workspace.slug, token=token)

    return _api


@pytest.fixture
def vm(team):
    """An attached SSH target made in the database, its password planted."""

    def _make(name="vm1", *, state=TargetState.SUCCEEDED, host_key="", pending_host_key=""):
        return ComputeTarget.objects.create(
            workspace=team.workspace,
            name=name,
            kind="ssh",
            state=state,
            config={"address": "127.0.0.1", "port": 22, "username": "ml", "workdir": "portal"},
            encrypted_secrets={"password": crypto.encrypt(SSH_PASSWORD)},
            host_key=host_key,
            pending_host_key=pending_host_key,
            capabilities={"cpus": 4, "memory_mb": 8192, "gpus": [{"name": "A100"}]},
        )

    return _make


@pytest.fixture
def engine(team):
    def _make(name="engine1", **caps):
        return ComputeTarget.objects.create(
            workspace=team.workspace,
            name=name,
            kind="docker",
            state=TargetState.SUCCEEDED,
            config={"endpoint": "tcp://build1.lan:2376"},
            capabilities={**ENGINE_CAPS, **caps},
        )

    return _make


@pytest.fixture
def created_vm(team, engine):
    def _make(name="vm-new", *, state=TargetState.SUCCEEDED):
        engine()
        return ComputeTarget.objects.create(
            workspace=team.workspace,
            name=name,
            kind="docker-vm",
            origin=Origin.CREATED,
            state=state,
            config={"engine": "engine1", "cpus": 2, "memory_gb": 4, "gpus": 0, "image": "python:3.11-slim"},
        )

    return _make


def key_line() -> str:
    return "ssh-ed25519 " + base64.b64encode(os.urandom(51)).decode()


def ssh_body(**overrides):
    body = {
        "kind": "ssh",
        "name": "gpu-box",
        "address": "127.0.0.1",
        "port": 22,
        "username": "ml",
        "password": SSH_PASSWORD,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


# ---- reads ------------------------------------------------------------------------------


def test_list_shows_the_workspace_targets_without_their_secrets(team, api, vm):
    vm("vm1")
    response = api(team.reader).get("/computes/")
    assert response.status_code == 200
    targets = {t["name"]: t for t in response.json()}
    assert set(targets) == {"local", "vm1"}
    one = targets["vm1"]
    assert one["kind"] == "ssh" and one["kind_label"] and one["origin"] == "attached"
    assert one["state"] == "Succeeded" and one["can_run"] is True
    assert one["secrets_set"] == ["password"]
    assert one["config"] == {"address": "127.0.0.1", "port": 22, "username": "ml", "workdir": "portal"}
    assert one["summary"] == "4 CPUs, 8.0 GB memory, 1 × A100"
    assert one["host_key_pending"] is None
    assert one["url"] == "http://testserver/compute/vm1/"
    assert targets["local"]["state_reason"] == "Granted to this workspace by a superuser."
    assert SSH_PASSWORD not in response.content.decode()


def test_list_filters_by_kind_and_state(team, api, vm):
    vm("vm1")
    vm("vm2", state=TargetState.FAILED)
    client = api(team.reader)
    assert [t["name"] for t in client.get("/computes/?kind=ssh").json()] == ["vm1", "vm2"]
    assert [t["name"] for t in client.get("/computes/?state=Failed").json()] == ["vm2"]


def test_get_one_and_its_events(team, api, vm):
    target = vm("vm1")
    TargetEvent.objects.create(target=target, state=TargetState.ATTACHING, reason="Attach requested.")
    TargetEvent.objects.create(target=target, state=TargetState.SUCCEEDED, reason="Check passed.")
    client = api(team.reader)
    body = client.get("/computes/vm1/").json()
    assert body["name"] == "vm1" and body["state_reason"] == "Check passed."
    events = client.get("/computes/vm1/events/").json()
    assert [(e["state"], e["message"]) for e in events] == [
        ("Succeeded", "Check passed."),
        ("Attaching", "Attach requested."),
    ]
    assert set(events[0]) == {"at", "state", "message", "actor"}
    assert len(client.get("/computes/vm1/events/?limit=1").json()) == 1
    bad = client.get("/computes/vm1/events/?limit=lots")
    assert bad.status_code == 400 and "limit" in bad.json()["fields"]


def test_an_unknown_target_is_a_json_404(team, api):
    response = api(team.reader).get("/computes/nope/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No compute target “nope” in Vision team."}


# ---- create / attach ----------------------------------------------------------------------


def test_attach_an_ssh_machine(team, api):
    response = api(team.contributor).post("/computes/", ssh_body())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "gpu-box" and body["state"] == "Attaching" and body["origin"] == "attached"
    assert body["secrets_set"] == ["password"]
    assert body["config"]["workdir"] == "portal"  # left out: the page's initial value
    assert response["Location"] == f"/api/v1/workspaces/{team.workspace.slug}/computes/gpu-box/"
    target = ComputeTarget.objects.get(workspace=team.workspace, name="gpu-box")
    assert target.secret("password") == SSH_PASSWORD and target.created_by == team.contributor
    assert SSH_PASSWORD not in json.dumps(target.encrypted_secrets)
    assert target.events.get().reason == "Attach requested."


def test_attach_with_a_key_and_a_pinned_host_key(team, api, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True)
    key = plant((tmp_path / "id").read_text())
    host = key_line()
    body = ssh_body(password=..., private_key=key, known_hosts=f"vm.lan {host} comment")
    response = api(team.contributor).post("/computes/", body)
    assert response.status_code == 201, response.json()
    assert response.json()["secrets_set"] == ["private_key"]
    target = ComputeTarget.objects.get(name="gpu-box")
    assert target.host_key == host and target.secret("private_key") == key.strip()


def test_create_a_vm_on_an_engine(team, api, engine):
    engine()
    body = {"kind": "docker-vm", "name": "vm-new", "engine": "engine1", "cpus": 2, "memory_gb": 4}
    body |= {"gpus": 0, "image": "python:3.11-slim", "idle_minutes": 30}
    response = api(team.contributor).post("/computes/", body)
    assert response.status_code == 201, response.json()
    assert response.json()["origin"] == "created" and response.json()["state"] == "Creating"
    target = ComputeTarget.objects.get(name="vm-new")
    assert target.config["idle_minutes"] == 30 and target.config["cpus"] == 2


@pytest.mark.parametrize(
    "body,field,message",
    [
        (
            {"name": "x-box"},
            "kind",
            "Give the kind to add, one of: ssh, docker-vm, container, docker, slurm.",
        ),
        (ssh_body(kind="local"), "kind", "one of"),
        (ssh_body(kind=["ssh"]), "kind", "one of"),
        (ssh_body(name="Bad Name!"), "name", "lowercase letters"),
        (ssh_body(name="local"), "name", "reserved"),
        (ssh_body(port=70000), "port", "less than or equal to 65535"),
        (ssh_body(port="many"), "port", "Enter a whole number."),
        (ssh_body(address="no-such-host.invalid"), "address", "does not resolve"),
        (ssh_body(username=...), "username", "This field is required."),
        (ssh_body(colour="blue"), "colour", "Not a field of Virtual machine targets."),
        (ssh_body(username=["ml"]), "username", "A single value"),
        (ssh_body(password=...), "non_field_errors", "Give a password or a private key."),
        (ssh_body(private_key="not a key"), "non_field_errors", "not both"),
        (ssh_body(known_hosts="garbage"), "known_hosts", "Paste one line of known_hosts"),
    ],
)
def test_bad_fields_are_named_and_nothing_is_created(team, api, body, field, message):
    count, events = ComputeTarget.objects.count(), TargetEvent.objects.count()
    response = api(team.contributor).post("/computes/", body)
    assert response.status_code == 400
    answer = response.json()
    assert field in answer["fields"], answer
    assert any(message in m for m in answer["fields"][field]), answer
    assert message in answer["detail"]
    assert (ComputeTarget.objects.count(), TargetEvent.objects.count()) == (count, events)


def test_a_vm_bigger_than_its_engine_is_refused_by_the_form(team, api, engine):
    engine()
    body = {"kind": "docker-vm", "name": "vm-big", "engine": "engine1", "cpus": 64, "memory_gb": 4}
    response = api(team.contributor).post("/computes/", body | {"image": "python:3.11-slim"})
    assert response.status_code == 400
    assert response.json()["fields"]["cpus"] == ["engine1 has 8 CPUs."]
    assert not ComputeTarget.objects.filter(name="vm-big").exists()


@pytest.mark.parametrize("raw", ['{"kind": "ssh",', "[1, 2]", '"ssh"'])
def test_bad_json_is_a_400_and_creates_nothing(team, api, raw):
    count = ComputeTarget.objects.count()
    response = api(team.contributor).post("/computes/", raw=raw)
    assert response.status_code == 400
    assert response.json()["detail"]
    assert ComputeTarget.objects.count() == count


def test_a_service_refusal_is_a_400_with_its_message(team, api):
    response = api(team.contributor).post(
        "/computes/", {"kind": "docker", "name": "host-engine", "endpoint": "unix:///var/run/docker.sock"}
    )
    assert response.status_code == 400
    assert "only a workspace owner can attach one" in response.json()["detail"]
    assert not ComputeTarget.objects.filter(name="host-engine").exists()


# ---- actions --------------------------------------------------------------------------------


def test_detach_an_attached_target(team, api, vm):
    vm("vm1")
    response = api(team.contributor).delete("/computes/vm1/")
    assert response.status_code == 202
    assert response.json()["name"] == "vm1"
    assert not ComputeTarget.objects.filter(name="vm1").exists()


def test_the_local_computer_cannot_be_detached(team, api):
    response = api(team.owner).delete("/computes/local/")
    assert response.status_code == 400 and "cannot be detached" in response.json()["detail"]
    assert ComputeTarget.objects.filter(workspace=team.workspace, kind="local").exists()


def test_delete_a_created_vm(team, api, created_vm):
    created_vm()
    response = api(team.contributor).delete("/computes/vm-new/")
    assert response.status_code == 202
    assert response.json()["state"] == "Deleting"
    assert ComputeTarget.objects.get(name="vm-new").state == TargetState.DELETING


def test_an_engine_hosting_a_vm_cannot_be_detached(team, api, created_vm):
    created_vm()
    response = api(team.owner).delete("/computes/engine1/")
    assert response.status_code == 400 and "delete those first" in response.json()["detail"]


def test_check_again(team, api, vm):
    vm("vm1")
    response = api(team.contributor).post("/computes/vm1/check/")
    assert response.status_code == 202
    assert response.json()["activity"] == "Queued for a check"


def test_check_refused_while_a_host_key_waits(team, api, vm):
    vm("vm1", state=TargetState.HOST_KEY_PENDING, pending_host_key=key_line())
    response = api(team.contributor).post("/computes/vm1/check/")
    assert response.status_code == 400
    assert response.json() == {"detail": "Confirm or reject the host key first."}


def test_stop_and_start_a_created_vm(team, api, created_vm):
    target = created_vm()
    client = api(team.contributor)
    refused = client.post("/computes/vm-new/start/")
    assert refused.status_code == 400 and "is not stopped" in refused.json()["detail"]
    response = client.post("/computes/vm-new/stop/")
    assert response.status_code == 202 and response.json()["state"] == "Stopping"
    target.refresh_from_db()
    target.state = TargetState.STOPPED
    target.save()
    response = client.post("/computes/vm-new/start/")
    assert response.status_code == 202 and response.json()["state"] == "Starting"


@pytest.mark.parametrize("action", ["stop", "start"])
def test_kinds_without_a_lifecycle_say_so(team, api, vm, action):
    vm("vm1")
    response = api(team.contributor).post(f"/computes/vm1/{action}/")
    assert response.status_code == 400
    assert response.json()["detail"] == "Virtual machine targets cannot be stopped or started."
    assert ComputeTarget.objects.get(name="vm1").state == TargetState.SUCCEEDED


def test_confirm_a_host_key_by_its_fingerprint(team, api, vm):
    presented = key_line()
    vm("vm1", state=TargetState.HOST_KEY_PENDING, pending_host_key=presented)
    client = api(team.contributor)
    pending = client.get("/computes/vm1/").json()["host_key_pending"]
    assert pending == {"fingerprint": hostkeys.fingerprint(presented), "replaces": None}
    wrong = client.post("/computes/vm1/host-key/", {"fingerprint": "SHA256:not-it"})
    assert wrong.status_code == 400 and "changed while you were looking" in wrong.json()["detail"]
    missing = client.post("/computes/vm1/host-key/", {})
    assert missing.status_code == 400 and "fingerprint" in missing.json()["fields"]
    response = client.post("/computes/vm1/host-key/", {"fingerprint": pending["fingerprint"]})
    assert response.status_code == 200
    assert response.json()["state"] == "Attaching" and response.json()["host_key_pending"] is None
    assert ComputeTarget.objects.get(name="vm1").host_key == presented


def test_reject_a_host_key(team, api, vm):
    vm("vm1", state=TargetState.HOST_KEY_PENDING, pending_host_key=key_line())
    response = api(team.contributor).post("/computes/vm1/host-key/", {"action": "reject"})
    assert response.status_code == 200 and response.json()["state"] == "Failed"
    assert "rejected" in response.json()["state_reason"]
    bad = api(team.contributor).post("/computes/vm1/host-key/", {"action": "maybe"})
    assert bad.status_code == 400 and "action" in bad.json()["fields"]


def test_only_an_owner_re_pins_a_changed_host_key(team, api, vm):
    old, new = key_line(), key_line()
    vm("vm1", state=TargetState.FAILED, host_key=old, pending_host_key=new)
    fingerprint = hostkeys.fingerprint(new)
    refused = api(team.contributor).post("/computes/vm1/host-key/", {"fingerprint": fingerprint})
    assert refused.status_code == 403 and "owner" in refused.json()["detail"]
    assert ComputeTarget.objects.get(name="vm1").host_key == old
    pending = api(team.contributor).get("/computes/vm1/").json()["host_key_pending"]
    assert pending["replaces"] == hostkeys.fingerprint(old)
    response = api(team.owner).post("/computes/vm1/host-key/", {"fingerprint": fingerprint})
    assert response.status_code == 200
    assert ComputeTarget.objects.get(name="vm1").host_key == new


# ---- the size catalogue ----------------------------------------------------------------------


def test_sizes_come_from_the_engines_the_create_forms_offer(team, api, engine):
    from tests.compute.clusters import seed_sizes

    seed_sizes()
    client = api(team.reader)
    assert client.get("/sizes/").json() == []
    engine("engine1", cpus=4, memory_mb=int(15.7 * 1024))
    engine("gpu-engine", cpus=2, memory_mb=4096, gpu_runtime=True)
    everything = client.get("/sizes/").json()
    sizes = [size for size in everything if size["kinds"] != ["slurm"]]
    # Cluster nodes come in the catalogue's sizes that the engine holds
    nodes = {(s["engine"], s["name"]) for s in everything if s["kinds"] == ["slurm"]}
    assert nodes == {
        ("engine1", "small"),
        ("engine1", "medium"),
        ("gpu-engine", "small"),
        ("gpu-engine", "medium"),
    }
    by_engine = {}
    for size in sizes:
        by_engine.setdefault(size["engine"], []).append(size["name"])
        assert size["kinds"] == ["docker-vm", "container"]
    assert by_engine["engine1"] == ["c1-m2", "c1-m8", "c2-m4", "c4-m8", "c4-m15.5"]
    assert by_engine["gpu-engine"] == ["c1-m2", "c1-m2-g1", "c2-m4", "c2-m4-g1"]
    big = next(s for s in sizes if s["name"] == "c4-m15.5")
    assert big == {
        "name": "c4-m15.5",
        "engine": "engine1",
        "cpu_cores": 4,
        "memory_gb": 15.5,
        "gpus": 0,
        "kinds": ["docker-vm", "container"],
        "fields": {"engine": "engine1", "cpus": 4, "memory_gb": 15.5, "gpus": 0},
    }


def test_every_size_is_one_the_create_form_accepts(team, api, engine):
    engine("engine1", cpus=4, memory_mb=16 * 1024)
    client = api(team.contributor)
    sizes = [size for size in client.get("/sizes/").json() if "container" in size["kinds"]]
    assert sizes
    for i, size in enumerate(sizes):
        body = {"kind": "container", "name": f"box-{i}", "image": "python:3.11-slim", **size["fields"]}
        assert client.post("/computes/", body).status_code == 201, size


# ---- who may do what, where ---------------------------------------------------------------------

WRITES = [
    ("post", "/computes/", ssh_body()),
    ("delete", "/computes/vm1/", None),
    ("post", "/computes/vm1/check/", None),
    ("post", "/computes/vm1/stop/", None),
    ("post", "/computes/vm1/start/", None),
    ("post", "/computes/vm1/host-key/", {"action": "reject"}),
]
READS = ["/computes/", "/computes/vm1/", "/computes/vm1/events/", "/sizes/"]


@pytest.mark.parametrize("method,path,body", WRITES)
def test_a_reader_cannot_write(team, api, vm, method, path, body):
    vm("vm1", state=TargetState.HOST_KEY_PENDING, pending_host_key=key_line())
    client = api(team.reader)
    response = client.post(path, body) if method == "post" else client.delete(path)
    assert response.status_code == 403
    assert response.json() == {"detail": "This needs the contributor role in Vision team."}
    assert ComputeTarget.objects.get(name="vm1").state == TargetState.HOST_KEY_PENDING
    assert not ComputeTarget.objects.filter(name="gpu-box").exists()


@pytest.mark.parametrize("method,path,body", WRITES)
def test_a_read_only_token_cannot_write(team, api, vm, method, path, body):
    vm("vm1", state=TargetState.HOST_KEY_PENDING, pending_host_key=key_line())
    client = api(team.owner, read_only=True)
    assert client.get("/computes/").status_code == 200
    response = client.post(path, body) if method == "post" else client.delete(path)
    assert response.status_code == 403
    assert response.json() == {"detail": "This token is read-only."}
    assert ComputeTarget.objects.get(name="vm1").state == TargetState.HOST_KEY_PENDING


@pytest.mark.parametrize("path", READS)
def test_another_workspace_is_not_found(team, api, vm, path):
    vm("vm1")
    # An outsider naming this workspace; a member's token naming another one; the
    # outsider's own token sent to this workspace.
    outsider = api(team.outsider, workspace=team.other_workspace, slug=team.workspace.slug)
    assert outsider.get(path).status_code == 404
    elsewhere = api(team.contributor, slug=team.other_workspace.slug)
    assert elsewhere.get(path).status_code == 404
    assert elsewhere.get(path).json() == {"detail": f"No workspace “{team.other_workspace.slug}” here."}


def test_a_token_only_works_in_its_own_workspace(team, api):
    from tests.factories import add_member

    add_member(team.other_workspace, team.contributor, "contributor")
    client = api(team.contributor, workspace=team.other_workspace, slug=team.workspace.slug)
    assert client.get("/computes/").status_code == 404
    assert client.post("/computes/", ssh_body()).status_code == 404
    assert not ComputeTarget.objects.filter(name="gpu-box").exists()


@pytest.mark.parametrize("path", READS)
def test_expired_revoked_and_missing_tokens_are_401(team, api, vm, path):
    vm("vm1")
    expired = api(team.owner)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked = api(team.owner)
    ApiToken.objects.filter(expires_at__gt=timezone.now()).update(revoked_at=timezone.now())
    for client in (expired, revoked, Api(team.workspace.slug), Api(team.workspace.slug, token="pat_x_y")):
        response = client.get(path)
        assert response.status_code == 401
        assert set(response.json()) == {"detail"}
        assert response["WWW-Authenticate"] == "Bearer"


def test_a_signed_in_session_reads_but_needs_csrf_to_write(team):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(team.contributor)
    client = Api(team.workspace.slug, client=browser)
    assert client.get("/computes/").status_code == 200
    response = client.post("/computes/", ssh_body())
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not ComputeTarget.objects.filter(name="gpu-box").exists()


# ---- no secret ever comes back ----------------------------------------------------------------


def test_api_responses_are_scanned_for_planted_secrets(team, api, vm, monkeypatch):
    """The scan is not vacuous: a serializer that leaked would fail the request."""
    from compute.serializers import TargetSerializer

    vm("vm1")
    monkeypatch.setattr(
        TargetSerializer, "get_config", lambda self, target: {"pw": target.secret("password")}
    )
    with pytest.raises(SecretLeak, match="planted secret"):
        api(team.reader).get("/computes/vm1/")


def test_the_schema_describes_each_kind_and_hides_secrets(team, login):
    schema = login(team.reader).get("/api/v1/schema/?format=json").json()
    components = schema["components"]["schemas"]
    for name in ("SshTargetCreateRequest", "DockerVmTargetCreateRequest", "DockerTargetCreateRequest"):
        assert name in components
    ssh = components["SshTargetCreateRequest"]["properties"]
    assert ssh["password"]["writeOnly"] and ssh["port"]["default"] == 22
    assert "password" not in json.dumps(components["Target"])
    assert "/api/v1/workspaces/{workspace}/sizes/" in schema["paths"]
