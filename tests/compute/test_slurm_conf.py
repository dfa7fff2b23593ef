"""slurm.conf for created clusters, and reading sinfo/squeue (pure functions)."""

import pytest

from compute.backends.slurm_conf import ClusterShape, NodeSeen, render
from compute.clusters import expand_hostlist, node_state, parse_sinfo, parse_squeue
from compute.models import NodeState


def shape(**changes):
    values = dict(name="c1", cpus=2, memory_mb=4096, min_nodes=1, max_nodes=4, idle_seconds=120)
    return ClusterShape(**{**values, **changes})


def settings_of(conf: str) -> dict:
    return dict(
        line.split("=", 1) for line in conf.splitlines() if not line.startswith(("NodeName", "Partition"))
    )


def test_elastic_cluster_settings():
    conf = render(shape())
    values = settings_of(conf)
    assert values["SelectType"] == "select/cons_tres"
    assert values["SelectTypeParameters"] == "CR_Core"
    assert values["ReturnToService"] == "2"
    assert values["SlurmctldParameters"] == "cloud_reg_addrs,enable_configless"
    assert values["PrivateData"] == "cloud"
    assert values["SuspendTime"] == "120"
    assert values["ResumeTimeout"] == "120"
    assert values["SuspendExcNodes"] == "node1"
    assert values["JobCompType"] == "jobcomp/filetxt"
    assert values["PreemptType"] == "preempt/partition_prio"
    assert values["PreemptMode"] == "REQUEUE"
    assert values["SlurmctldHost"] == "head"


def test_minimum_nodes_are_static_the_rest_cloud_with_declared_resources():
    conf = render(shape(cpus=2.5, memory_mb=4096))
    assert "NodeName=node1 CPUs=2 RealMemory=4096 State=UNKNOWN" in conf
    assert "NodeName=node[2-4] CPUs=2 RealMemory=4096 State=CLOUD" in conf


def test_no_minimum_means_every_node_is_cloud_and_none_excluded():
    conf = render(shape(min_nodes=0, max_nodes=2, cpus=0.5))
    assert "NodeName=node[1-2] CPUs=1 RealMemory=4096 State=CLOUD" in conf
    assert "SuspendExcNodes" not in conf
    assert "State=UNKNOWN" not in conf


def test_all_static():
    conf = render(shape(min_nodes=3, max_nodes=3))
    assert "NodeName=node[1-3] CPUs=2 RealMemory=4096 State=UNKNOWN" in conf
    assert "State=CLOUD" not in conf
    assert "SuspendExcNodes=node[1-3]" in conf


@pytest.mark.parametrize(
    ("priority", "default"), [("dedicated", "dedicated"), ("lowpriority", "lowpriority")]
)
def test_two_partitions_over_the_same_nodes_priority_picks_the_default(priority, default):
    lines = [
        line for line in render(shape(priority=priority)).splitlines() if line.startswith("PartitionName")
    ]
    assert len(lines) == 2
    assert "PartitionName=dedicated Nodes=node[1-4]" in lines[0] and "PriorityTier=2" in lines[0]
    assert "PartitionName=lowpriority Nodes=node[1-4]" in lines[1] and "PriorityTier=1" in lines[1]
    assert [line.split()[0].split("=")[1] for line in lines if "Default=YES" in line] == [default]


@pytest.mark.parametrize(
    "changes", [{"priority": "urgent"}, {"min_nodes": 3, "max_nodes": 2}, {"min_nodes": 0, "max_nodes": 0}]
)
def test_impossible_shapes_are_refused(changes):
    with pytest.raises(ValueError):
        render(shape(**changes))


SINFO = """node1|allocated|dedicated*|2|4096|(null)|none
node1|allocated|lowpriority|2|4096|(null)|none
node2|idle#|dedicated*|2|4096|(null)|none
node2|idle#|lowpriority|2|4096|(null)|none
node3|down*|dedicated*|2|4096|gpu:1|container exited (code 137)|extra
node4|idle~|dedicated*|2|4096|(null)|none
"""


def test_sinfo_nodes_merge_partitions_and_keep_reasons():
    nodes = {node.name: node for node in parse_sinfo(SINFO)}
    assert nodes["node1"].partitions == ["dedicated", "lowpriority"]
    assert nodes["node1"].state == NodeState.RUNNING
    assert nodes["node2"].state == NodeState.PREPARING
    assert nodes["node3"].state == NodeState.UNUSABLE
    assert nodes["node3"].reason == "container exited (code 137)|extra"
    assert nodes["node3"].gpus == 1
    assert nodes["node4"].state == NodeState.OFF
    assert (nodes["node1"].cpus, nodes["node1"].memory_mb, nodes["node1"].reason) == (2.0, 4096, "")


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("idle", NodeState.IDLE),
        ("mixed", NodeState.RUNNING),
        ("completing", NodeState.RUNNING),
        ("allocated#", NodeState.PREPARING),
        ("unknown", NodeState.PREPARING),
        ("idle%", NodeState.LEAVING),
        ("idle!", NodeState.LEAVING),
        ("draining", NodeState.LEAVING),
        ("idle~", NodeState.OFF),
        ("down~", NodeState.UNUSABLE),
        ("idle*", NodeState.UNUSABLE),
        ("drained", NodeState.UNUSABLE),
        ("down*", NodeState.UNUSABLE),
    ],
)
def test_slurm_states_map_to_node_states(state, expected):
    assert node_state(state) == expected


def test_reconcile_reads_power_suffixes():
    assert NodeSeen("node2", "idle~").powered_down
    assert NodeSeen("node2", "idle%").powered_down
    assert not NodeSeen("node2", "allocated#").powered_down
    assert NodeSeen("node2", "down*").down
    assert NodeSeen("node1", "idle").registered
    assert not NodeSeen("node1", "idle*").registered


SQUEUE = """7|dedicated|root|RUNNING|None|2|node[1-2]|100|portal-0123456789abcdef0123456789abcdef
8|dedicated|alice|PENDING|Resources|1||50|train|big
9|dedicated|bob|PENDING|Priority|1||90|other
10|lowpriority|bob|PENDING|PartitionNodeLimit|3||10|x
"""


def test_squeue_jobs_with_reasons_and_positions():
    jobs = {job["job"]: job for job in parse_squeue(SQUEUE)}
    assert jobs["7"]["nodelist"] == "node[1-2]" and jobs["7"]["nodes"] == 2 and jobs["7"]["reason"] == ""
    assert jobs["8"]["name"] == "train|big" and jobs["8"]["reason"] == "Resources"
    assert (jobs["9"]["position"], jobs["9"]["of"]) == (1, 2)  # higher priority first
    assert (jobs["8"]["position"], jobs["8"]["of"]) == (2, 2)
    assert (jobs["10"]["position"], jobs["10"]["of"]) == (1, 1)
    assert jobs["7"]["position"] is None


def test_hostlists_expand():
    assert expand_hostlist("node[1-3,5],head") == ["node1", "node2", "node3", "node5", "head"]
    assert expand_hostlist("node01") == ["node01"]
    assert expand_hostlist("n[08-10]") == ["n08", "n09", "n10"]
    assert expand_hostlist("") == []


def test_an_impossible_cluster_is_refused_in_plain_words(team):
    from compute.backends.base import BackendError
    from compute.backends.slurm_cluster import CreatedCluster
    from compute.models import ComputeTarget

    target = ComputeTarget.objects.create(
        workspace=team.workspace,
        name="c1",
        kind="slurm",
        config={"size": "small", "min_nodes": 3, "max_nodes": 2, "idle_seconds": 60, "engine": "e"},
    )
    with pytest.raises(BackendError) as failure:
        CreatedCluster(target)._conf(CreatedCluster(target).shape())
    assert failure.value.permanent
    assert "min_nodes <= max_nodes" in failure.value.message
    target.config["size"] = "enormous"
    with pytest.raises(BackendError, match="The node size 'enormous' is not in the catalogue"):
        CreatedCluster(target).shape()
