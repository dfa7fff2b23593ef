"""The package index pages: owners change them, members read them, the bundle never comes back."""

from compute.models import ComputeTarget
from portal.models import Workspace
from tests.secret_scan import plant

from .test_package_index import make_ca_pem


def test_owner_sets_the_workspace_index_and_bundle(team, login):
    client = login(team.owner)
    pem = plant(make_ca_pem())
    response = client.post(
        "/workspace/settings/", {"index_url": "https://pypi.example.com/simple", "ca_bundle": pem}
    )
    assert response.status_code == 302
    page = client.get("/workspace/settings/").content.decode()
    assert "https://pypi.example.com/simple" in page and ">set<" in page
    assert Workspace.objects.get(pk=team.workspace.pk).package_index["index_url"]


def test_a_bad_url_is_refused_with_a_message(team, login):
    response = login(team.owner).post("/workspace/settings/", {"index_url": "ftp://x.example.com/"})
    assert response.status_code == 400
    assert "Not an index URL" in response.content.decode()


def test_a_contributor_may_read_but_not_change(team, login):
    client = login(team.contributor)
    assert client.get("/workspace/settings/").status_code == 200
    assert (
        client.post("/workspace/settings/", {"index_url": "https://a.example.com/simple"}).status_code == 403
    )


def test_owner_sets_a_target_override(team, login):
    target = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    response = login(team.owner).post(
        f"/compute/{target.name}/package-index/", {"index_url": "https://t.example.com/simple"}
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.package_index == {"index_url": "https://t.example.com/simple"}
