"""The requests the compute configuration classes build (no server)."""

import io

import pytest

from portal_sdk.core.compute import (
    AmlCompute,
    BatchAiCompute,
    ClusterCompute,
    ComputeTarget,
    ContainerInstanceCompute,
    DsvmCompute,
    RemoteCompute,
    SlurmCompute,
)
from portal_sdk.core.compute_target import ComputeTargetException

from .fakes import FakePortal, target, workspace

ENGINE = target("engine1", "docker", capabilities={"images": ["localhost/py:3.11", "busybox"]})
SIZES = [
    {"name": "c1-m2", "engine": "engine1", "cpu_cores": 1, "memory_gb": 2, "gpus": 0,
     "fields": {"engine": "engine1", "cpus": 1, "memory_gb": 2, "gpus": 0}},
    {"name": "c2-m4", "engine": "engine1", "cpu_cores": 2, "memory_gb": 4, "gpus": 0,
     "fields": {"engine": "engine1", "cpus": 2, "memory_gb": 4, "gpus": 0}},
    {"name": "c2-m16", "engine": "engine1", "cpu_cores": 2, "memory_gb": 16, "gpus": 0,
     "fields": {"engine": "engine1", "cpus": 2, "memory_gb": 16, "gpus": 0}},
]  # fmt: skip


def portal_with_engine(*targets, sizes=SIZES):
    portal = FakePortal()
    portal.on("GET", r"workspaces/team/computes/", (200, [ENGINE, *targets]))
    portal.on("GET", r"workspaces/team/computes/engine1/", (200, ENGINE))
    portal.on("GET", r"workspaces/team/sizes/", (200, sizes) if sizes is not None else (404, {"detail": "x"}))
    portal.on("POST", r"workspaces/team/computes/", lambda call: (201, target(call["json"]["name"], call["json"]["kind"], "Creating")))  # fmt: skip
    return portal


def posted(portal):
    (call,) = portal.requests_to("POST", r"workspaces/team/computes/")
    return call["json"]


def test_a_vm_of_a_cloud_size_gets_the_smallest_engine_size_that_holds_it():
    portal = portal_with_engine()
    ws = workspace(portal)
    config = DsvmCompute.provisioning_configuration(vm_size="Standard_D2_v2")
    vm = DsvmCompute.create(ws, name="mydsvm", provisioning_configuration=config)
    assert posted(portal) == {
        "kind": "docker-vm",
        "name": "mydsvm",
        "engine": "engine1",
        "image": "localhost/py:3.11",  # the engine's Python image: DEFAULT_CPU_IMAGE is not on it
        "cpus": 2,
        "memory_gb": 16,
        "gpus": 0,
    }
    assert isinstance(vm, DsvmCompute) and vm.provisioning_state == "Creating"


def test_a_catalogue_size_by_name_and_explicit_limits():
    portal = portal_with_engine()
    ws = workspace(portal)
    ComputeTarget.create(ws, "a", DsvmCompute.provisioning_configuration(vm_size="C2-M4", image="busybox"))
    assert posted(portal)["cpus"] == 2 and posted(portal)["memory_gb"] == 4
    assert posted(portal)["image"] == "busybox"
    portal.calls.clear()
    config = ContainerInstanceCompute.provisioning_configuration(
        cpu_cores=0.5, memory_gb=1, gpus=0, engine="engine1"
    )
    ComputeTarget.create(ws, "aci", config)
    assert posted(portal) == {
        "kind": "container", "name": "aci", "engine": "engine1", "image": "localhost/py:3.11",
        "cpus": 0.5, "memory_gb": 1, "gpus": 0,
    }  # fmt: skip


def test_a_size_larger_than_the_engine_takes_its_largest_and_says_so(capsys):
    portal = portal_with_engine(sizes=SIZES[:2])
    ComputeTarget.create(
        workspace(portal), "big", DsvmCompute.provisioning_configuration(vm_size="Standard_D2_v2")
    )
    assert posted(portal)["memory_gb"] == 4
    assert "larger than any size on engine1: using c2-m4" in capsys.readouterr().err


def test_without_a_catalogue_a_cloud_size_is_sent_as_its_numbers():
    portal = portal_with_engine(sizes=None)
    ComputeTarget.create(
        workspace(portal), "d", DsvmCompute.provisioning_configuration(vm_size="Standard_D2_v2")
    )
    assert (posted(portal)["cpus"], posted(portal)["memory_gb"]) == (2, 7)


def test_the_engine_defaults_to_the_only_usable_one():
    other = target("engine2", "docker", state="Failed")
    portal = portal_with_engine(other)
    ComputeTarget.create(workspace(portal), "x", ContainerInstanceCompute.provisioning_configuration())
    assert posted(portal)["engine"] == "engine1"

    two = FakePortal().on("GET", r"workspaces/team/computes/", (200, [ENGINE, target("engine2", "docker")]))
    with pytest.raises(
        ComputeTargetException, match=r"several Docker engines \(engine1, engine2\): pass engine="
    ):
        ComputeTarget.create(workspace(two), "x", ContainerInstanceCompute.provisioning_configuration())
    none = FakePortal().on("GET", r"workspaces/team/computes/", (200, []))
    with pytest.raises(ComputeTargetException, match="no usable Docker engine"):
        ComputeTarget.create(workspace(none), "x", ContainerInstanceCompute.provisioning_configuration())


def test_remote_compute_attach_seed_form_and_configuration(tmp_path):
    portal = FakePortal().on("POST", r"workspaces/team/computes/", lambda c: (201, target(c["json"]["name"], "ssh", "Attaching")))  # fmt: skip
    ws = workspace(portal)
    vm = RemoteCompute.attach(
        ws, name="attach-dsvm", username="me", address="vm.lan", ssh_port=2222, password="pw"
    )
    assert posted(portal) == {
        "kind": "ssh", "name": "attach-dsvm", "address": "vm.lan", "port": 2222, "username": "me", "password": "pw",
    }  # fmt: skip
    assert isinstance(vm, RemoteCompute) and vm.type == "VirtualMachine"

    portal.calls.clear()
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n")
    config = RemoteCompute.attach_configuration(
        address="vm.lan", username="me", private_key_file=str(key), known_hosts_line="vm.lan ssh-ed25519 AAAA"
    )
    assert "BEGIN OPENSSH" not in repr(config)
    ComputeTarget.attach(ws, "vm2", config)
    body = posted(portal)
    assert body["private_key"].startswith("-----BEGIN OPENSSH") and "password" not in body
    assert body["known_hosts"] == "vm.lan ssh-ed25519 AAAA" and body["port"] == 22


def test_a_password_and_a_key_together_are_refused(tmp_path):
    with pytest.raises(ComputeTargetException, match="not both"):
        RemoteCompute.attach_configuration(address="a", username="u", password="p", private_key="k")
    with pytest.raises(ComputeTargetException, match="Cannot read the private key file"):
        RemoteCompute.attach_configuration(address="a", username="u", private_key_file=tmp_path / "none")


def test_cluster_requests():
    portal = portal_with_engine()
    ws = workspace(portal)
    config = ClusterCompute.provisioning_configuration(
        vm_size="c1-m2",
        vm_priority="lowpriority",
        min_nodes=0,
        max_nodes=3,
        idle_seconds_before_scaledown=600,
    )
    ComputeTarget.create(ws, "cpu", config)
    assert posted(portal) == {
        "kind": "slurm", "name": "cpu", "mode": "create", "engine": "engine1",
        "priority": "lowpriority", "min_nodes": 0, "max_nodes": 3, "idle_seconds": 600,
        "cpus": 1, "memory_gb": 2, "gpus": 0,
    }  # fmt: skip
    assert AmlCompute is ClusterCompute
    with pytest.raises(ComputeTargetException, match="vm_priority"):
        ClusterCompute.provisioning_configuration(vm_size="x", vm_priority="spot")

    batch = BatchAiCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", autoscale_enabled=True, cluster_min_nodes=1, cluster_max_nodes=4
    )
    assert (batch.fields["min_nodes"], batch.fields["max_nodes"]) == (1, 4)
    fixed = BatchAiCompute.provisioning_configuration(vm_size="x", cluster_min_nodes=1, cluster_max_nodes=4)
    assert (fixed.fields["min_nodes"], fixed.fields["max_nodes"]) == (4, 4)

    slurm = SlurmCompute.attach_configuration("login.lan", 22, "me", password="pw", partition="gpu")
    assert slurm.request(ws, "hpc") == {
        "kind": "slurm", "name": "hpc", "mode": "attach", "address": "login.lan", "port": 22, "username": "me",
        "password": "pw", "partition": "gpu",
    }  # fmt: skip


def test_the_portals_message_is_the_exception_message():
    portal = portal_with_engine()
    portal.on(
        "POST",
        r"workspaces/team/computes/",
        (
            400,
            {"detail": "name: A compute target named “x” already exists here.", "fields": {"name": ["..."]}},
        ),
    )
    with pytest.raises(ComputeTargetException) as caught:
        ComputeTarget.create(workspace(portal), "x", ContainerInstanceCompute.provisioning_configuration())
    assert caught.value.message == "name: A compute target named “x” already exists here."
    assert caught.value.status == 400 and caught.value.fields == {"name": ["..."]}


def test_finding_a_target_by_name():
    portal = FakePortal()
    portal.on("GET", r"workspaces/team/computes/vm1/", (200, target("vm1", "ssh")))
    portal.on("GET", r"workspaces/team/computes/gone/", (404, {"detail": "No compute target “gone”."}))
    ws = workspace(portal)
    vm = ComputeTarget(ws, "vm1")
    assert isinstance(vm, RemoteCompute) and vm.name == "vm1" and vm.provisioning_state == "Succeeded"
    assert vm.status.serialize()["kind"] == "ssh"
    with pytest.raises(ComputeTargetException, match="No compute target named 'gone'"):
        DsvmCompute(workspace=ws, name="gone")
    with pytest.raises(ComputeTargetException, match="not a DsvmCompute"):
        DsvmCompute(workspace=ws, name="vm1")


def events_and_states(states, events):
    """A portal whose target goes through ``states`` (one per GET) and has ``events``."""
    portal = FakePortal()
    portal.on(
        "GET", r"workspaces/team/computes/vm/", [s if isinstance(s, tuple) else (200, s) for s in states]
    )
    portal.on("GET", r"workspaces/team/computes/vm/events/", (200, events))
    return portal


def test_wait_for_completion_prints_each_step_once(monkeypatch):
    monkeypatch.setattr("portal_sdk.core.compute_target.POLL_SECONDS", 0)
    events = [
        {"at": "2025-01-01T00:00:01Z", "state": "Attaching", "message": "Connecting to vm.lan:22"},
        {"at": "2025-01-01T00:00:00Z", "state": "Attaching", "message": "Attach requested"},
    ]
    states = [
        target("vm", "ssh", "Attaching"),
        target("vm", "ssh", "Attaching"),
        target("vm", "ssh", "Succeeded"),
    ]
    ws = workspace(events_and_states(states, events))
    vm = ComputeTarget._from_payload(ws, target("vm", "ssh", "Attaching"))
    out = io.StringIO()
    vm.wait_for_completion(show_output=True, out=out)
    assert out.getvalue().splitlines() == [
        "  Attach requested",
        "  Connecting to vm.lan:22",
        "vm: Attaching",
        "vm: Succeeded",
    ]


def test_a_failed_target_raises_with_its_reason(monkeypatch):
    monkeypatch.setattr("portal_sdk.core.compute_target.POLL_SECONDS", 0)
    failed = target("vm", "ssh", "Failed", state_reason="Authentication failed for me.")
    ws = workspace(events_and_states([failed], []))
    vm = ComputeTarget._from_payload(ws, target("vm", "ssh", "Attaching"))
    with pytest.raises(ComputeTargetException, match="vm failed: Authentication failed for me."):
        vm.wait_for_completion()


def test_the_host_key_is_confirmed_with_the_given_fingerprint(monkeypatch):
    monkeypatch.setattr("portal_sdk.core.compute_target.POLL_SECONDS", 0)
    pending = target("vm", "ssh", "HostKeyPending", host_key_pending={"fingerprint": "SHA256:good"})
    portal = events_and_states(
        [pending, target("vm", "ssh", "Attaching"), target("vm", "ssh", "Succeeded")], []
    )
    portal.on("POST", r"workspaces/team/computes/vm/host-key/", (200, target("vm", "ssh", "Attaching")))
    portal.on("POST", r"workspaces/team/computes/", (201, target("vm", "ssh", "Attaching")))
    ws = workspace(portal)
    config = RemoteCompute.attach_configuration(
        "vm.lan", username="u", password="p", host_key_fingerprint="SHA256:good"
    )
    vm = ComputeTarget.attach(ws, "vm", config)
    vm.wait_for_completion(show_output=False)
    assert [c["json"] for c in portal.requests_to("POST", r".*/host-key/")] == [
        {"fingerprint": "SHA256:good"}
    ]


def test_a_different_host_key_is_rejected(monkeypatch):
    monkeypatch.setattr("portal_sdk.core.compute_target.POLL_SECONDS", 0)
    pending = target("vm", "ssh", "HostKeyPending", host_key_pending={"fingerprint": "SHA256:evil"})
    portal = events_and_states([pending], [])
    portal.on("POST", r"workspaces/team/computes/vm/host-key/", (200, target("vm", "ssh", "Failed")))
    vm = ComputeTarget._from_payload(workspace(portal), pending)
    vm._host_key_fingerprint = "SHA256:good"
    with pytest.raises(ComputeTargetException, match="SHA256:evil, not the expected SHA256:good"):
        vm.wait_for_completion()
    assert [c["json"] for c in portal.requests_to("POST", r".*/host-key/")] == [{"action": "reject"}]


def test_without_a_fingerprint_it_points_at_the_page_and_waits(monkeypatch):
    monkeypatch.setattr("portal_sdk.core.compute_target.POLL_SECONDS", 0)
    pending = target("vm", "ssh", "HostKeyPending", host_key_pending={"fingerprint": "SHA256:k"})
    portal = events_and_states([pending, pending, target("vm", "ssh", "Succeeded")], [])
    vm = ComputeTarget._from_payload(workspace(portal), pending)
    out = io.StringIO()
    vm.wait_for_completion(show_output=True, out=out)
    text = out.getvalue()
    assert text.count("must be confirmed") == 1
    assert "Open http://portal.test/w/team/compute/vm/ to confirm it" in text
    assert not portal.requests_to("POST")


def test_delete_waits_until_the_target_is_gone(monkeypatch):
    monkeypatch.setattr("portal_sdk.core.compute_target.POLL_SECONDS", 0)
    portal = events_and_states([target("vm", "docker-vm", "Deleting"), (404, {"detail": "gone"})], [])
    portal.on("DELETE", r"workspaces/team/computes/vm/", (202, target("vm", "docker-vm", "Deleting")))
    vm = ComputeTarget._from_payload(workspace(portal), target("vm", "docker-vm"))
    vm.delete()
    vm.wait_for_completion(is_delete_operation=True)
    assert len(portal.requests_to("DELETE")) == 1
    with pytest.raises(ComputeTargetException, match="delete\\(\\) it instead"):
        vm.detach()
