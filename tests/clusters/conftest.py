import pytest

from tests.conftest import SSH_PASSWORD
from tests.runs.conftest import local_target, make_snapshot, submit  # noqa: F401 (fixtures)


@pytest.fixture(scope="session")
def slurm_host():
    """A real Slurm cluster on this machine (tests/slurm_host.py); its login node is the loopback sshd."""
    from tests import slurm_host

    node = slurm_host.ensure_running()
    yield node
    slurm_host.drain_jobs()


@pytest.fixture
def attached_cluster(team, ssh_env, slurm_host):
    """An attached cluster target (kind slurm, mode attach) on the test sshd, checked."""
    from compute.models import ComputeTarget, TargetState
    from portal import crypto

    def _make(name="hpc", *, partition="", state=TargetState.SUCCEEDED, check=True, port=None):
        target = ComputeTarget.objects.create(
            workspace=team.workspace,
            name=name,
            kind="slurm",
            state=state,
            config={
                "mode": "attach",
                "address": "127.0.0.1",
                "port": port or ssh_env.port,
                "username": ssh_env.user,
                "workdir": "portal-slurm",
                "partition": partition,
            },
            encrypted_secrets={"password": crypto.encrypt(SSH_PASSWORD)},
            host_key=ssh_env.host_key,
        )
        if check:
            backend = target.backend
            target.capabilities = backend.check(lambda step: None)
            target.save(update_fields=["capabilities"])
        return target

    return _make
