"""Personal access tokens: the profile page, the services, the command, and Bearer auth."""

import io
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from portal import tokens
from portal.models import ApiToken
from tests.factories import make_token, make_user


def make_on_page(client, home, **fields):
    data = {"name": "laptop", "workspace": home.pk, "days": "30"} | fields
    return client.post("/profile/tokens/", data)


def plaintext_in(response) -> str:
    html = response.content.decode()
    start = html.index('id="token-plaintext" value="') + len('id="token-plaintext" value="')
    return html[start : html.index('"', start)]


# ---- the profile page ----------------------------------------------------------------


def test_the_page_needs_a_login(db):
    response = Client().get("/profile/tokens/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_user_menu_links_to_it(team, login):
    assert 'href="/profile/tokens/"' in login(team.reader).get("/").content.decode()


def test_make_a_token_shown_once_and_stored_as_a_hash(team, login):
    client = login(team.reader)
    response = make_on_page(client, team.workspace, read_only="on")
    assert response.status_code == 200
    assert "it will not be shown again" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    plaintext = plaintext_in(response)
    token = ApiToken.objects.get(user=team.reader)
    assert plaintext.startswith(f"pat_{token.prefix}_")
    assert token.digest == tokens.digest_of(plaintext) and plaintext not in token.digest
    assert token.read_only and token.workspace == team.workspace and token.name == "laptop"
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    # Nowhere else: not in the session, not on the next visit.
    assert not any(plaintext in s.session_data for s in Session.objects.all())
    again = client.get("/profile/tokens/").content.decode()
    assert plaintext not in again and f"pat_{token.prefix}_…" in again and "laptop" in again


def test_the_list_shows_each_state(team, login):
    for name in ("live", "old", "gone"):
        make_token(team.contributor, team.workspace, name=name)
    ApiToken.objects.filter(name="old").update(expires_at=timezone.now() - timedelta(days=1))
    ApiToken.objects.filter(name="gone").update(revoked_at=timezone.now())
    make_token(team.owner, team.workspace, name="someone-elses")
    html = login(team.contributor).get("/profile/tokens/").content.decode()
    for token in ApiToken.objects.filter(user=team.contributor):
        row = html[html.index(f'id="token-{token.pk}-row"') :]
        row = row[: row.index("</tr>")]
        state = {"live": "Active", "old": "Expired", "gone": "Revoked"}[token.name]
        assert state in row
        assert ("Revoke</button>" in row) == (state == "Active")
    assert "someone-elses" not in html


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"name": ""}, "This field is required."),
        ({"days": "3"}, "Select a valid choice."),
        ({"workspace": "other"}, "Select a valid choice."),
    ],
)
def test_bad_input_makes_no_token(team, login, fields, message):
    if fields.get("workspace") == "other":  # not one of the reader's workspaces
        fields = {"workspace": team.other_workspace.pk}
    response = make_on_page(login(team.reader), team.workspace, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoke_from_the_page(team, login):
    make_token(team.contributor, team.workspace, name="ci")
    token = ApiToken.objects.get()
    client = login(team.contributor)
    response = client.post(f"/profile/tokens/{token.pk}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="token-{token.pk}-row"') and "Revoked" in html
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client.get(f"/profile/tokens/{token.pk}/revoke/").status_code == 405


def test_nobody_revokes_another_users_token(team, login):
    make_token(team.owner, team.workspace)
    token = ApiToken.objects.get()
    assert login(team.contributor).post(f"/profile/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_user_in_no_workspace_is_told_so(db, login):
    html = login(make_user("newbie")).get("/profile/tokens/").content.decode()
    assert "you are in none yet" in html and "token-create-form" not in html


# ---- the services ---------------------------------------------------------------------


def test_token_for_checks_expiry_revocation_and_notes_its_use(team):
    plaintext = make_token(team.reader, team.workspace, days=7)
    token = tokens.token_for(plaintext)
    assert token is not None and token.last_used_at is not None
    first_use = token.last_used_at
    assert tokens.token_for(plaintext).last_used_at == first_use  # at most one write a minute
    ApiToken.objects.update(last_used_at=first_use - timedelta(minutes=2))
    assert tokens.token_for(plaintext).last_used_at > first_use - timedelta(minutes=2)
    assert tokens.token_for(plaintext + "x") is None
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert tokens.token_for(plaintext) is None
    ApiToken.objects.update(expires_at=None)
    tokens.token_revoke(token=ApiToken.objects.get())
    assert tokens.token_for(plaintext) is None


def test_a_non_member_gets_no_token(team):
    with pytest.raises(tokens.TokenError, match="not a member"):
        tokens.token_create(user=team.outsider, workspace=team.workspace, name="x")
    with pytest.raises(tokens.TokenError, match="from 1 to 366 days"):
        tokens.token_create(user=team.reader, workspace=team.workspace, name="x", days=400)
    assert not ApiToken.objects.exists()


# ---- manage.py create_api_token ----------------------------------------------------------


def run_command(*args) -> str:
    out = io.StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_only_the_token(team):
    out = run_command("--user", "rita", "--workspace", team.workspace.slug, "--read-only", "--days", "7")
    plaintext = out.strip()
    assert out == plaintext + "\n" and plaintext.startswith("pat_")
    token = tokens.token_for(plaintext)
    assert token.user == team.reader and token.read_only and token.name == "created with manage.py"
    assert timedelta(days=6) < token.expires_at - timezone.now() <= timedelta(days=7)
    named = tokens.token_for(
        run_command("--user", "rita", "--workspace", "vision-team", "--name", "ci").strip()
    )
    assert named.name == "ci" and not named.read_only


@pytest.mark.parametrize(
    "args,message",
    [
        (["--user", "nobody", "--workspace", "vision-team"], "No user “nobody”."),
        (["--user", "rita", "--workspace", "nowhere"], "No workspace “nowhere”"),
        (["--user", "oscar", "--workspace", "vision-team"], "oscar is not a member of Vision team."),
        (["--user", "rita", "--workspace", "vision-team", "--days", "0"], "from 1 to 366 days"),
    ],
)
def test_the_command_says_what_is_wrong(team, args, message):
    with pytest.raises(CommandError, match=message):
        run_command(*args)
    assert not ApiToken.objects.exists()


# ---- Bearer authentication ----------------------------------------------------------------


def bearer(value):
    return {"HTTP_AUTHORIZATION": value}


def test_a_bearer_token_works_and_only_in_its_workspace(team):
    plaintext = make_token(team.reader, team.workspace)
    response = Client().get("/api/v1/workspaces/", **bearer(f"Bearer {plaintext}"))
    assert response.status_code == 200
    assert [w["slug"] for w in response.json()] == [team.workspace.slug]
    assert response.json()[0]["role"] == "reader"


@pytest.mark.parametrize(
    "header",
    ["Bearer garbage", "Bearer pat_0000_nothing", "Bearer", "Bearer a b", "Bearer \xff"],
)
def test_a_bad_token_is_a_json_401(team, header):
    response = Client().get(f"/api/v1/workspaces/{team.workspace.slug}/", **bearer(header))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"detail"} and response.json()["detail"]


@pytest.mark.parametrize("how", ["expired", "revoked", "inactive user"])
def test_expired_and_revoked_tokens_are_401(team, how):
    plaintext = make_token(team.reader, team.workspace)
    if how == "expired":
        ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif how == "revoked":
        tokens.token_revoke(token=ApiToken.objects.get())
    else:
        team.reader.is_active = False
        team.reader.save()
    response = Client().get(f"/api/v1/workspaces/{team.workspace.slug}/", **bearer(f"Bearer {plaintext}"))
    assert response.status_code == 401
    assert "expired or been revoked" in response.json()["detail"]


def test_the_session_needs_csrf_for_a_post(team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team.owner)
    url = f"/api/v1/workspaces/{team.workspace.slug}/computes/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"kind": "ssh"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
