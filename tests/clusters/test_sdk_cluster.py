"""The 2018 Batch AI snippet from the SDK docs, unchanged, against a live portal:
it creates a real Slurm cluster on the engine (in tests/clusters, whose podman
engine leaves other suites' containers alone)."""

import pytest

from portal_sdk.core.compute import ComputeTarget, DockerEngineCompute
from tests.conftest import wait_for
from tests.sdk.docs_snippets import snippet

pytestmark = pytest.mark.integration


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.timeout(300)
def test_the_batch_ai_snippet_creates_a_cluster(live_workspace, team, podman_engine, capsys):
    """The 2018 snippet, unchanged: a Slurm cluster on the engine, in the smallest
    catalogue size that holds STANDARD_D2_V2 (or the engine's largest), min 1 node."""
    from compute.models import ComputeTarget as Target
    from tests import slurm
    from tests.compute.clusters import seed_sizes

    slurm.ensure_slurm_image()
    seed_sizes()  # an earlier browser test emptied every table, the seeded catalogue too
    _, connect = live_workspace
    engine = ComputeTarget.attach(
        connect(team.owner), "podman", DockerEngineCompute.attach_configuration(podman_engine.url)
    )
    engine.wait_for_completion()
    namespace = {"ws": connect()}
    exec(snippet("BatchAiCompute.provisioning_configuration"), namespace)  # noqa: S102
    cluster = namespace["compute_target"]
    try:
        assert cluster.provisioning_state == "Succeeded"
        printed = capsys.readouterr()
        assert "creating a new compute target..." in printed.out
        row = Target.objects.get(workspace=team.workspace, kind="slurm")
        assert row.config["min_nodes"] == 1 and row.config["max_nodes"] == 4
        assert row.config["size"] in ("medium", "large")
        assert row.capabilities["partitions"][0]["name"] == "dedicated"
        assert any(thing.endswith("-node1") for thing in slurm.cluster_things(row.config["cluster_id"]))
    finally:
        cluster.delete()
        wait_for(lambda: not Target.objects.filter(kind="slurm").exists(), timeout=120, message="deleted")
    assert slurm.cluster_things(row.config["cluster_id"]) == []
