"""A created VM on a real engine: Creating → Running → Stopped → Running → Deleted,
every step pushed to websocket clients of the list and the status page."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.utils import timezone

from compute import lifecycle, services
from compute.models import ComputeTarget, TargetState
from compute.tasks import stop_idle_targets
from tests import podman
from tests.compute.test_attach_flow import frames_until, socket_for
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration]

# What the container itself sees of its limits (cgroup v1 here, v2 elsewhere).
LIMITS = r"""
if [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
  echo "memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
  echo "cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)/$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
else
  echo "memory=$(cat /sys/fs/cgroup/memory.max)"
  echo "cpu=$(cut -d' ' -f1 /sys/fs/cgroup/cpu.max)/$(cut -d' ' -f2 /sys/fs/cgroup/cpu.max)"
fi
"""


@pytest.fixture
def checked_engine(engine_target):
    def _make(name="engine1", **kwargs):
        target = engine_target(name, **kwargs)
        services.target_check(target_id=target.pk)
        target.refresh_from_db()
        assert target.state == TargetState.SUCCEEDED, target.last_error
        return target

    return _make


def container_of(target):
    return podman.podman("inspect", "--format", "{{.State.Status}}", target.backend.container_name)


def vm_form(name="vm-new", **extra):
    return {
        "kind": "docker-vm",
        "name": name,
        "engine": "engine1",
        "cpus": "1.5",
        "memory_gb": "0.5",
        "gpus": "0",
        "image": podman.PYTHON_IMAGE,
        **extra,
    }


def test_vm_created_stopped_started_deleted_live(worker, team, login, checked_engine):
    checked_engine()
    client = login(team.contributor)
    list_client = login(team.reader)

    async def scenario():
        listing = socket_for(f"/ws/workspaces/{team.workspace.pk}/targets/", list_client)
        assert (await listing.connect())[0]
        response = await sync_to_async(client.post)("/compute/add/", vm_form())
        assert response.status_code == 302
        target = await ComputeTarget.objects.aget(name="vm-new")
        page = socket_for(f"/ws/targets/{target.pk}/", client)
        assert (await page.connect())[0]

        frames = await frames_until(page, ">Running</span>", timeout=60)
        steps = " ".join(frames)
        for step in (
            "Looking for the image",
            "Creating the container: 1.5 CPUs, 0.5 GB memory",
            "Preflight:",
        ):
            assert step in steps, step
        assert f'id="target-{target.pk}-capabilities"' in frames[-1]
        assert 'id="target-stop"' in frames[-1]
        await frames_until(listing, ">Running</span>")

        assert (await sync_to_async(client.post)("/compute/vm-new/stop/")).status_code == 302
        frames = await frames_until(page, ">Stopped</span>", timeout=40)
        assert ">Stopping</span>" in " ".join(frames)
        assert "exited" in (await sync_to_async(container_of)(target)).stdout
        await frames_until(listing, ">Stopped</span>")

        assert (await sync_to_async(client.post)("/compute/vm-new/start/")).status_code == 302
        frames = await frames_until(page, ">Running</span>", timeout=40)
        assert ">Starting</span>" in " ".join(frames)
        assert "running" in (await sync_to_async(container_of)(target)).stdout

        assert (await sync_to_async(client.post)("/compute/vm-new/delete/")).status_code == 302
        frames = await frames_until(page, f'id="target-{target.pk}-deleted"', timeout=40)
        assert "Removing the container" in " ".join(frames)
        row = await frames_until(listing, 'hx-swap-oob="delete"')
        assert f'id="target-{target.pk}-row"' in row[-1]
        await page.disconnect()
        await listing.disconnect()
        return target

    target = async_to_sync(scenario)()
    assert not ComputeTarget.objects.filter(name="vm-new").exists()
    assert container_of(target).returncode != 0  # the container is gone


def test_vm_limits_are_what_the_container_sees(worker, team, checked_engine):
    checked_engine()
    target = lifecycle.target_create(
        workspace=team.workspace,
        user=team.owner,
        kind="docker-vm",
        name="vm-limits",
        config={"engine": "engine1", "cpus": 1.5, "memory_gb": 0.5, "gpus": 0, "image": podman.PYTHON_IMAGE},
    )
    wait_for(lambda: ComputeTarget.objects.get(pk=target.pk).state == TargetState.SUCCEEDED, timeout=60)
    target.refresh_from_db()
    assert target.capabilities["cpus"] == 1.5 and target.capabilities["memory_mb"] == 512
    assert target.capabilities["pythons"][0]["version"].startswith("3.11")
    out = podman.podman("exec", target.backend.container_name, "sh", "-c", LIMITS).stdout
    assert f"memory={512 * 1024 * 1024}" in out and "cpu=150000/100000" in out
    lifecycle.target_request_delete(target=target)
    wait_for(lambda: not ComputeTarget.objects.filter(pk=target.pk).exists(), timeout=30)


@pytest.mark.parametrize(
    "config,reason",
    [
        ({"image": podman.MISSING_IMAGE}, f"The image {podman.MISSING_IMAGE} is not on the engine"),
        ({"image": podman.BUSYBOX_IMAGE}, "No python3 found"),
        ({"engine": "engine-gone"}, "cannot be reached (no socket at that path)"),
    ],
)
def test_vm_that_cannot_be_created_says_why(
    worker, team, checked_engine, engine_target, tmp_path, config, reason
):
    checked_engine()
    engine_target("engine-gone", endpoint=f"unix://{tmp_path}/nothing.sock", state=TargetState.SUCCEEDED)
    target = lifecycle.target_create(
        workspace=team.workspace,
        user=team.owner,
        kind="docker-vm",
        name="vm-bad",
        config={
            "engine": "engine1",
            "cpus": 1,
            "memory_gb": 0.5,
            "gpus": 0,
            "image": podman.PYTHON_IMAGE,
            **config,
        },
    )
    failed = wait_for(
        lambda: ComputeTarget.objects.filter(pk=target.pk, state=TargetState.FAILED).first(), timeout=60
    )
    assert reason in failed.last_error and failed.activity == ""
    made = podman.podman("ps", "-aq", "--filter", f"label={podman.LABEL}={target.pk}").stdout.split()
    assert len(made) == (1 if "python3" in reason else 0)  # only the busybox VM got as far as a container
    # a failed VM can still be deleted, and leaves nothing behind
    lifecycle.target_request_delete(target=failed)
    wait_for(lambda: not ComputeTarget.objects.filter(pk=target.pk).exists(), timeout=30)
    assert not podman.podman("ps", "-aq", "--filter", f"label={podman.LABEL}={target.pk}").stdout.strip()


def test_idle_vm_is_stopped_by_the_periodic_task(worker, team, checked_engine):
    checked_engine()
    target = lifecycle.target_create(
        workspace=team.workspace,
        user=team.owner,
        kind="docker-vm",
        name="vm-idle",
        config={
            "engine": "engine1",
            "cpus": 1,
            "memory_gb": 0.5,
            "gpus": 0,
            "image": podman.PYTHON_IMAGE,
            "idle_minutes": 5,
        },
    )
    wait_for(lambda: ComputeTarget.objects.get(pk=target.pk).state == TargetState.SUCCEEDED, timeout=60)
    # The beat task itself, run to its end here: it decides, and stops nothing.
    assert stop_idle_targets.apply().get() == []
    assert ComputeTarget.objects.get(pk=target.pk).state == TargetState.SUCCEEDED  # used just now

    ComputeTarget.objects.filter(pk=target.pk).update(last_used_at=timezone.now() - timedelta(minutes=6))
    stop_idle_targets.delay()
    stopped = wait_for(lambda: ComputeTarget.objects.filter(pk=target.pk, state=TargetState.STOPPED).first())
    assert stopped.events.filter(reason="Idle shutdown: no runs for 5 min.").exists()
    lifecycle.target_request_delete(target=stopped)
    wait_for(lambda: not ComputeTarget.objects.filter(pk=target.pk).exists(), timeout=30)


def test_lifecycle_requests_the_state_does_not_allow(team, checked_engine):
    engine = checked_engine()
    vm = ComputeTarget.objects.create(
        workspace=team.workspace, name="vm-x", kind="docker-vm", origin="created", state=TargetState.STOPPED
    )
    with pytest.raises(services.TargetActionError, match="cannot be stopped or started"):
        lifecycle.target_request_start(target=engine)
    with pytest.raises(services.TargetActionError, match="cannot be stopped while stopped"):
        lifecycle.target_request_stop(target=vm)
    with pytest.raises(services.TargetActionError, match="start it to check it"):
        services.target_request_check(target=vm)
    with pytest.raises(services.TargetActionError, match="was attached: detach it instead"):
        lifecycle.target_request_delete(target=engine)
    with pytest.raises(services.TargetActionError, match="was created here: delete it instead"):
        services.target_detach(target=vm, user=team.owner)
