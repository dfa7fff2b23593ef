from portal.models import Membership, Role


def test_owner_adds_a_member(team, login, django_user_model):
    django_user_model.objects.create_user("newbie", password="x")
    response = login(team.owner).post(
        "/workspace/members/", {"action": "add", "username_or_email": "newbie", "role": "reader"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user__username="newbie", workspace=team.workspace).role == Role.READER


def test_adding_an_unknown_user_says_so_and_changes_nothing(team, login):
    count = Membership.objects.count()
    response = login(team.owner).post(
        "/workspace/members/", {"action": "add", "username_or_email": "ghost", "role": "reader"}
    )
    assert response.status_code == 400
    assert "There is no user “ghost”" in response.content.decode()
    assert Membership.objects.count() == count


def test_owner_changes_a_role_and_removes_a_member(team, login):
    client = login(team.owner)
    reader = Membership.objects.get(user=team.reader, workspace=team.workspace)
    client.post(f"/workspace/members/{reader.pk}/", {"action": "role", "role": "contributor"})
    reader.refresh_from_db()
    assert reader.role == Role.CONTRIBUTOR
    client.post(f"/workspace/members/{reader.pk}/", {"action": "remove"})
    assert not Membership.objects.filter(pk=reader.pk).exists()
    assert login(team.reader).get("/compute/").status_code == 403  # no workspace left


def test_the_last_owner_cannot_leave_or_be_demoted(team, login):
    client = login(team.owner)
    owner = Membership.objects.get(user=team.owner, workspace=team.workspace)
    response = client.post(
        f"/workspace/members/{owner.pk}/", {"action": "role", "role": "reader"}, follow=True
    )
    assert "at least one owner" in response.content.decode()
    client.post(f"/workspace/members/{owner.pk}/", {"action": "remove"})
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_switcher_lists_workspaces_and_switches(team, login):
    from tests.factories import add_member

    add_member(team.other_workspace, team.owner, Role.READER)
    client = login(team.owner)
    page = client.get("/").content.decode()
    assert "Vision team" in page and "Other team" in page
    client.post(f"/workspaces/{team.other_workspace.slug}/switch/")
    page = client.get("/compute/").content.decode()
    assert 'id="workspace-switcher"' in page
    assert "Other team" in page.split('id="workspace-switcher"')[1].split("</button>")[0]
    # a reader there: the change controls are hidden, and refused
    assert client.post("/compute/local/check/").status_code == 403


def test_only_a_granted_workspace_has_the_local_computer(team):
    assert team.workspace.targets.filter(kind="local", name="local").count() == 1
    assert not team.other_workspace.local_target_allowed
    assert not team.other_workspace.targets.filter(kind="local").exists()


def test_admin_lists_workspaces_with_counts(team, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="x"))
    page = client.get("/admin/portal/workspace/").content.decode()
    row = page.split(">Vision team</a>")[1].split("</tr>")[0]
    assert ">3<" in row and ">1<" in row  # three members, the local target
