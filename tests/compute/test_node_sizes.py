"""Node sizes: owners add, change and delete the workspace's own; the installation's
are read-only there and changed in the admin, by superusers only."""

import pytest
from django.contrib.auth import get_user_model

from compute.models import NodeSize

from .clusters import make_cluster, make_engine, seed_sizes


@pytest.fixture(autouse=True)
def seeded(db):
    seed_sizes()


SIZE = {"name": "fat", "cpu_cores": "2", "memory_gb": "8", "gpus": "0", "hourly_price": "0.25"}


def own_size(team, **fields):
    return NodeSize.objects.create(
        workspace=team.workspace, **{"name": "fat", "cpu_cores": 2, "memory_gb": 8, **fields}
    )


def test_everyone_sees_the_sizes_installation_wide_ones_read_only(team, login):
    size = own_size(team)
    page = login(team.reader).get("/workspace/settings/node-sizes/").content.decode()
    assert "small" in page and "gpu-small" in page and "installation" in page
    assert f'id="node-size-{size.pk}-edit"' in page  # hidden by the role class, refused on POST
    small = NodeSize.objects.get(name="small", workspace=None)
    assert f'id="node-size-{small.pk}-edit"' not in page


@pytest.mark.parametrize("who", ["contributor", "reader"])
def test_only_owners_change_sizes(team, login, who):
    size = own_size(team)
    client = login(getattr(team, who))
    assert client.post("/workspace/settings/node-sizes/", {**SIZE, "name": "new"}).status_code == 403
    assert client.post(f"/workspace/settings/node-sizes/{size.pk}/", SIZE).status_code == 403
    assert client.post(f"/workspace/settings/node-sizes/{size.pk}/delete/").status_code == 403
    assert NodeSize.objects.filter(workspace=team.workspace).count() == 1


def test_owner_adds_changes_and_deletes_a_size(team, login):
    client = login(team.owner)
    response = client.post("/workspace/settings/node-sizes/", SIZE)
    assert response.status_code == 302
    size = NodeSize.objects.get(workspace=team.workspace, name="fat")
    assert (size.cpu_cores, size.memory_gb, str(size.hourly_price)) == (2, 8, "0.2500")
    assert "<td>0.25</td>" in client.get("/workspace/settings/node-sizes/").content.decode()
    response = client.post(f"/workspace/settings/node-sizes/{size.pk}/", {**SIZE, "memory_gb": "12"})
    assert response.status_code == 302
    size.refresh_from_db()
    assert size.memory_gb == 12
    assert client.post(f"/workspace/settings/node-sizes/{size.pk}/delete/").status_code == 302
    assert not NodeSize.objects.filter(pk=size.pk).exists()


@pytest.mark.parametrize("name", ["small", "fat"])
def test_a_name_already_offered_here_is_refused(team, login, name):
    own_size(team)
    response = login(team.owner).post("/workspace/settings/node-sizes/", {**SIZE, "name": name})
    assert response.status_code == 400
    assert "already offered here" in response.context["form"].errors["name"][0]


def test_another_workspace_may_use_the_same_name_and_its_sizes_are_not_reachable(team, login):
    theirs = NodeSize.objects.create(workspace=team.other_workspace, name="fat", cpu_cores=1, memory_gb=1)
    client = login(team.owner)
    assert client.post("/workspace/settings/node-sizes/", SIZE).status_code == 302
    assert client.post(f"/workspace/settings/node-sizes/{theirs.pk}/", SIZE).status_code == 404
    assert client.post(f"/workspace/settings/node-sizes/{theirs.pk}/delete/").status_code == 404
    small = NodeSize.objects.get(name="small", workspace=None)
    assert client.post(f"/workspace/settings/node-sizes/{small.pk}/", SIZE).status_code == 404
    assert client.post(f"/workspace/settings/node-sizes/{small.pk}/delete/").status_code == 404


def test_a_size_in_use_keeps_its_limits_and_is_not_deleted(team, login):
    size = own_size(team)
    make_engine(team.workspace)
    make_cluster(team.workspace, "hpc", size="fat")
    client = login(team.owner)
    response = client.post(f"/workspace/settings/node-sizes/{size.pk}/", {**SIZE, "cpu_cores": "4"})
    assert response.status_code == 400 and "node size of hpc" in response.content.decode()
    response = client.post(f"/workspace/settings/node-sizes/{size.pk}/", {**SIZE, "hourly_price": "0.5"})
    assert response.status_code == 302
    response = client.post(f"/workspace/settings/node-sizes/{size.pk}/delete/", follow=True)
    assert "node size of hpc" in response.content.decode()
    assert NodeSize.objects.filter(pk=size.pk).exists()


def test_admin_lists_sizes_for_superusers_only(team, login):
    staff = get_user_model().objects.create_user("staffer", password="x", is_staff=True)
    assert login(staff).get("/admin/compute/nodesize/").status_code == 403
    root = get_user_model().objects.create_superuser("root", password="x")
    page = login(root).get("/admin/compute/nodesize/").content.decode()
    assert "gpu-small" in page
    response = login(root).post(
        "/admin/compute/nodesize/add/", {"name": "xl", "cpu_cores": "8", "memory_gb": "32", "gpus": "0"}
    )
    assert response.status_code == 302 and NodeSize.objects.filter(name="xl", workspace=None).exists()


def test_a_refused_change_shows_the_stored_size_in_the_table(team, login):
    size = own_size(team)
    make_engine(team.workspace)
    make_cluster(team.workspace, "hpc", size="fat")
    page = login(team.owner).post(f"/workspace/settings/node-sizes/{size.pk}/", {**SIZE, "cpu_cores": "6"})
    row = page.content.decode().split(f'id="node-size-{size.pk}"')[1].split("</tr>")[0]
    assert "<td>2</td>" in row and "<td>6</td>" not in row
