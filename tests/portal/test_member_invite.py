"""Owners add existing users by username or e-mail; superusers make accounts
with a one-time password, shown once, that must be changed at first sign-in."""

import logging

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from portal.models import Membership, PasswordChangeRequired, Role
from tests.secret_scan import plant

MEMBERS = "/workspace/members/"


@pytest.fixture
def boss(team, django_user_model):
    """A superuser who is a reader of the team: creating accounts needs no role."""
    from tests.factories import add_member

    user = django_user_model.objects.create_superuser("boss", password="x")
    add_member(team.workspace, user, Role.READER)
    return user


def add(client, who, role="reader"):
    return client.post(MEMBERS, {"action": "add", "username_or_email": who, "role": role})


def create(client, username, email="", role="contributor"):
    return client.post(
        MEMBERS, {"action": "create", "new-username": username, "new-email": email, "new-role": role}
    )


def one_time_password_in(response) -> str:
    html = response.content.decode()
    return html.split('id="user-created-password" value="')[1].split('"')[0]


def test_owner_adds_a_member_by_email(team, login, django_user_model):
    django_user_model.objects.create_user("ada", email="Ada@Example.org", password="x")
    response = add(login(team.owner), "ada@example.org", role="contributor")
    assert response.status_code == 302
    assert Membership.objects.get(user__username="ada", workspace=team.workspace).role == Role.CONTRIBUTOR


@pytest.mark.parametrize(
    "who,message",
    [
        ("nobody@example.org", "No user has the e-mail “nobody@example.org”. The portal sends no mail"),
        ("rita", "rita is already a member of Vision team."),
        ("twin@example.org", "Several users have the e-mail “twin@example.org”"),
    ],
)
def test_bad_invites_say_why_and_change_nothing(team, login, django_user_model, who, message):
    django_user_model.objects.create_user("twin1", email="twin@example.org")
    django_user_model.objects.create_user("twin2", email="twin@example.org")
    memberships = Membership.objects.count()
    response = add(login(team.owner), who)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'id="user-create"' not in html  # an owner who is no superuser is offered no account
    assert Membership.objects.count() == memberships


def test_an_unknown_email_offers_a_superuser_to_create_the_account(team, boss, login):
    from tests.factories import add_member

    add_member(team.other_workspace, boss, Role.OWNER)
    client = login(boss)
    client.post(f"/workspaces/{team.other_workspace.slug}/switch/")
    response = add(client, "grace@example.org", role="reader")
    assert response.status_code == 400
    html = response.content.decode()
    form = html.split('id="user-create-form"')[1].split("</form>")[0]
    assert 'value="grace@example.org"' in form and 'value="grace"' in form
    assert '<option value="reader" selected>' in form


@pytest.mark.parametrize("user_attr", ["contributor", "reader"])
def test_only_owners_add_members(team, login, user_attr, django_user_model):
    django_user_model.objects.create_user("newbie")
    assert add(login(getattr(team, user_attr)), "newbie").status_code == 403
    assert not Membership.objects.filter(user__username="newbie").exists()


def test_only_superusers_create_accounts(team, login, django_user_model):
    client = login(team.owner)
    assert 'id="user-create"' not in client.get(MEMBERS).content.decode()
    assert create(client, "mallory").status_code == 403
    assert not django_user_model.objects.filter(username="mallory").exists()


def test_superuser_creates_an_account_its_password_shown_once(team, boss, login, django_user_model, caplog):
    caplog.set_level(logging.DEBUG)
    client = login(boss)
    response = create(client, "grace", email="grace@example.org", role="contributor")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "it will not be shown again" in html
    password = plant(one_time_password_in(response))  # from here on, the scan fails any leak
    grace = django_user_model.objects.get(username="grace")
    assert grace.email == "grace@example.org" and grace.check_password(password)
    assert password not in grace.password  # a hash
    assert Membership.objects.get(user=grace, workspace=team.workspace).role == Role.CONTRIBUTOR
    assert PasswordChangeRequired.objects.get(user=grace).created_by == boss
    # Nowhere else: not in the session, a message cookie, the log; not on the next visit.
    assert not any(password in s.session_data for s in Session.objects.all())
    assert all(password not in morsel.value for morsel in response.cookies.values())
    assert password not in caplog.text
    again = client.get(MEMBERS)
    assert 'id="user-created"' not in again.content.decode() and "grace" in again.content.decode()


@pytest.mark.parametrize(
    "username,email,message",
    [
        ("rita", "", "The username “rita” is taken."),
        ("RITA", "", "The username “RITA” is taken."),
        ("bad name!", "", "Enter a valid username."),
        ("newbie", "not-an-email", "Enter a valid email address."),
        ("newbie", "Rita@example.org", "A user with the e-mail “Rita@example.org” exists already"),
    ],
)
def test_bad_accounts_say_why_and_change_nothing(
    team, boss, login, django_user_model, username, email, message
):
    team.reader.email = "rita@example.org"
    team.reader.save()
    users = django_user_model.objects.count()
    response = create(login(boss), username, email=email)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and 'id="user-created"' not in html
    assert django_user_model.objects.count() == users


def test_first_sign_in_must_change_the_password(team, boss, login, django_user_model):
    password = plant(one_time_password_in(create(login(boss), "grace")))
    client = Client()
    response = client.post("/login/", {"username": "grace", "password": password}, follow=True)
    assert response.redirect_chain[-1][0] == "/password/"
    assert 'id="password-change-required"' in response.content.decode()
    for path in ("/", "/compute/", MEMBERS, "/profile/tokens/"):  # nothing else until then
        assert client.get(path)["Location"] == "/password/"

    weak = client.post(
        "/password/", {"old_password": password, "new_password1": "grace1", "new_password2": "grace1"}
    )
    assert weak.status_code == 200 and "This password is too short" in weak.content.decode()
    assert PasswordChangeRequired.objects.filter(user__username="grace").exists()

    mine = plant("a-long-passphrase-of-my-own")
    response = client.post(
        "/password/", {"old_password": password, "new_password1": mine, "new_password2": mine}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert not PasswordChangeRequired.objects.filter(user__username="grace").exists()
    assert client.get("/compute/").status_code == 200  # still signed in, free to go on
    grace = django_user_model.objects.get(username="grace")
    assert grace.check_password(mine) and not grace.check_password(password)


def test_others_are_never_sent_to_change_their_password(team, login):
    assert login(team.reader).get("/").status_code == 200
    assert login(team.reader).get("/password/").status_code == 200
    assert 'id="password-change-required"' not in login(team.reader).get("/password/").content.decode()
