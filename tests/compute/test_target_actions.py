"""Actions on a target's page: detach, re-check."""

import pytest

from compute import services
from compute.models import ComputeTarget, TargetState

pytestmark = [pytest.mark.integration]  # ssh_target starts the test sshd


def test_detach_forgets_the_target_but_not_the_local_computer(team, login, ssh_target):
    ssh_target("vm1")
    client = login(team.contributor)
    assert "Detach vm1?" in client.get("/compute/vm1/detach/").content.decode()
    client.post("/compute/vm1/detach/")
    assert not ComputeTarget.objects.filter(name="vm1").exists()
    response = client.post("/compute/local/detach/", follow=True)
    assert "cannot be detached" in response.content.decode()
    assert ComputeTarget.objects.filter(workspace=team.workspace, kind="local").exists()


def test_recheck_waits_for_a_pending_host_key(team, login, ssh_target):
    target = ssh_target("vm1", host_key="")
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.HOST_KEY_PENDING
    response = login(team.contributor).post("/compute/vm1/check/", HTTP_HX_REQUEST="true")
    assert "Confirm or reject the host key first." in response.content.decode()
    assert response["HX-Retarget"] == "#toasts"
    target.refresh_from_db()
    assert target.activity == ""
