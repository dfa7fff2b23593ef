"""The cluster's "+ Add" form: create new (engine, node size, node limits) or
attach existing (the VM form's SSH fields), each mode showing and checking its own."""

import pytest

from compute.backends.slurm_forms import SlurmConfigForm
from compute.models import ComputeTarget, NodeSize, Origin
from tests.conftest import SSH_PASSWORD

from .clusters import make_engine


def create_data(**overrides):
    data = {
        "kind": "slurm",
        "mode": "create",
        "name": "hpc",
        "engine": "engine1",
        "size": "small",
        "min_nodes": "0",
        "max_nodes": "2",
        "idle_seconds": "60",
        "priority": "dedicated",
        "image": "localhost/portal-slurm:22.05",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def attach_data(**overrides):
    data = {
        "kind": "slurm",
        "mode": "attach",
        "name": "hpc",
        "address": "127.0.0.1",
        "port": "22",
        "username": "ml",
        "password": SSH_PASSWORD,
        "workdir": "portal",
        "partition": "debug",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_cluster_is_offered_in_both_columns_each_link_carries_its_mode(team, login):
    page = login(team.contributor).get("/compute/add/").content.decode()
    create, attach = page.index('id="add-create"'), page.index('id="add-attach"')
    assert 'id="kind-slurm-create"' in page[create:attach] and "mode=create" in page[create:attach]
    assert 'id="kind-slurm-attach"' in page[attach:] and "mode=attach" in page[attach:]


def test_each_mode_shows_only_its_fields(team, login):
    client = login(team.contributor)
    make_engine(team.workspace)
    created = client.get("/compute/add/?kind=slurm&mode=create", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="size"' in created and 'name="max_nodes"' in created and 'name="address"' not in created
    assert '<option value="engine1"' in created and "small — 1 core, 2 GB" in created
    assert 'name="mode" value="create"' in created and "Create</button>" in created
    attached = client.get("/compute/add/?kind=slurm&mode=attach", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="address"' in attached and 'name="partition"' in attached and 'name="size"' not in attached
    assert 'name="mode" value="attach"' in attached and "Attach</button>" in attached


def test_create_stores_the_create_config(team, login):
    make_engine(team.workspace)
    response = login(team.contributor).post("/compute/add/", create_data())
    assert response.status_code == 302, response.context["form"].errors
    target = ComputeTarget.objects.get(name="hpc")
    assert target.origin == Origin.CREATED and target.kind == "slurm"
    assert target.config == {
        "mode": "create",
        "engine": "engine1",
        "size": "small",
        "min_nodes": 0,
        "max_nodes": 2,
        "idle_seconds": 60,
        "priority": "dedicated",
        "image": "localhost/portal-slurm:22.05",
    }
    assert target.encrypted_secrets == {}


def test_attach_stores_the_attach_config_and_encrypts_the_password(team, login):
    response = login(team.contributor).post("/compute/add/", attach_data())
    assert response.status_code == 302, response.context["form"].errors
    target = ComputeTarget.objects.get(name="hpc")
    assert target.origin == Origin.ATTACHED
    assert target.config == {
        "mode": "attach",
        "address": "127.0.0.1",
        "port": 22,
        "username": "ml",
        "workdir": "portal",
        "partition": "debug",
    }
    assert target.secret("password") == SSH_PASSWORD


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"min_nodes": "3", "max_nodes": "2"}, "min_nodes", "At most the maximum (2)"),
        ({"max_nodes": "0"}, "max_nodes", "greater than or equal to 1"),
        ({"max_nodes": "65"}, "max_nodes", "less than or equal to 64"),
        ({"min_nodes": "-1"}, "min_nodes", "greater than or equal to 0"),
        ({"idle_seconds": "10"}, "idle_seconds", "greater than or equal to 30"),
        ({"size": "huge"}, "size", "Select a valid choice"),
        ({"size": "large"}, "size", "A large node: engine1 has 2 CPUs"),
        ({"size": "gpu-small"}, "size", "no GPU runtime"),
        ({"engine": "nope"}, "engine", "Select a valid choice"),
        ({"priority": "urgent"}, "priority", "Select a valid choice"),
        ({"max_nodes": ""}, "max_nodes", "required"),
    ],
)
def test_create_mode_says_what_is_wrong(team, login, overrides, field, message):
    make_engine(team.workspace, cpus=2, memory_mb=4096)
    response = login(team.contributor).post("/compute/add/", create_data(**overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors.get(field, [])
    assert any(message in e for e in errors), response.context["form"].errors
    assert not ComputeTarget.objects.filter(name="hpc").exists()


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"address": "no-such-host.invalid"}, "address", "does not resolve"),
        ({"port": "70000"}, "port", "less than or equal to 65535"),
        ({"username": None}, "username", "required"),
        ({"password": None}, None, "Give a password or a private key."),
        ({"known_hosts": "garbage"}, "known_hosts", "Paste one line of known_hosts"),
    ],
)
def test_attach_mode_checks_as_the_vm_form_does(team, login, overrides, field, message):
    response = login(team.contributor).post("/compute/add/", attach_data(**overrides))
    assert response.status_code == 400
    form = response.context["form"]
    errors = form.errors.get(field, []) if field else form.non_field_errors()
    assert any(message in e for e in errors), form.errors
    assert SSH_PASSWORD not in response.content.decode()


def test_a_workspace_size_is_offered_only_there_and_wins_over_a_namesake(team):
    own = NodeSize.objects.create(workspace=team.workspace, name="fat", cpu_cores=2, memory_gb=8)
    NodeSize.objects.create(workspace=team.other_workspace, name="theirs", cpu_cores=1, memory_gb=1)
    make_engine(team.workspace)
    form = SlurmConfigForm(workspace=team.workspace, initial={"mode": "create"})
    names = [name for name, _ in form.fields["size"].choices]
    assert "fat" in names and "small" in names and "theirs" not in names
    assert dict(form.fields["size"].choices)["fat"] == "fat — 2 cores, 8 GB"
    assert own.workspace == team.workspace


def test_the_models_clean_checks_a_config_through_the_form(team):
    make_engine(team.workspace)
    target = ComputeTarget(
        workspace=team.workspace,
        name="hpc",
        kind="slurm",
        config={
            "mode": "create",
            "engine": "engine1",
            "size": "small",
            "min_nodes": 5,
            "max_nodes": 2,
            "idle_seconds": 60,
            "priority": "dedicated",
            "image": "localhost/portal-slurm:22.05",
        },
    )
    errors = target.backend.config_errors(target)
    assert errors == ["min_nodes: At most the maximum (2)."]


def test_the_api_creates_a_cluster_with_its_mode(team, api):
    make_engine(team.workspace)
    client = api(team.contributor, team.workspace)
    body = {k: v for k, v in create_data().items()}
    response = client.post(f"/api/v1/workspaces/{team.workspace.slug}/computes/", body, format="json")
    assert response.status_code == 201, response.json()
    assert ComputeTarget.objects.get(name="hpc").config["max_nodes"] == 2


def test_the_size_catalogue_offers_node_sizes_that_fit_each_engine(team, api):
    make_engine(team.workspace, cpus=2, memory_mb=4096)
    client = api(team.reader, team.workspace)
    sizes = client.get(f"/api/v1/workspaces/{team.workspace.slug}/sizes/").json()
    cluster_sizes = {s["name"]: s for s in sizes if "slurm" in s["kinds"]}
    assert set(cluster_sizes) == {"small", "medium"}  # large (4 cores) and gpu-small do not fit
    assert cluster_sizes["small"]["fields"] == {"engine": "engine1", "size": "small"}


def test_the_api_fills_what_the_page_starts_with(team, api):
    client = api(team.contributor, team.workspace)
    body = {
        "kind": "slurm",
        "mode": "attach",
        "name": "site",
        "address": "127.0.0.1",
        "username": "ml",
        "password": SSH_PASSWORD,
    }
    response = client.post(f"/api/v1/workspaces/{team.workspace.slug}/computes/", body, format="json")
    assert response.status_code == 201, response.json()
    config = ComputeTarget.objects.get(name="site").config
    assert (config["port"], config["workdir"], config["partition"]) == (22, "portal", "")


def test_every_catalogue_size_is_one_the_cluster_form_accepts(team, api):
    make_engine(team.workspace)
    client = api(team.contributor, team.workspace)
    base = f"/api/v1/workspaces/{team.workspace.slug}"
    sizes = [s for s in client.get(f"{base}/sizes/").json() if "slurm" in s["kinds"]]
    assert sizes
    for i, size in enumerate(sizes):
        body = {"kind": "slurm", "name": f"hpc-{i}", "max_nodes": 2, **size["fields"]}
        assert client.post(f"{base}/computes/", body, format="json").status_code == 201, size
