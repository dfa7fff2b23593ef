"""Admins list and revoke API tokens in the admin site; the token itself is never shown."""

from portal import tokens
from portal.models import ApiToken


def test_admin_lists_and_revokes_tokens_without_showing_them(team, client, django_user_model):
    issued = tokens.token_create(user=team.contributor, workspace=team.workspace, name="ci job")
    client.force_login(django_user_model.objects.create_superuser("boss", password="x"))
    listing = client.get("/admin/portal/apitoken/").content.decode()
    assert "ci job" in listing and issued.token.prefix in listing
    assert issued.plaintext not in listing and issued.token.digest not in listing
    detail = client.get(f"/admin/portal/apitoken/{issued.token.pk}/change/").content.decode()
    assert issued.plaintext not in detail and issued.token.digest not in detail
    assert client.get("/admin/portal/apitoken/add/").status_code == 403
    client.post("/admin/portal/apitoken/", {"action": "revoke", "_selected_action": [issued.token.pk]})
    assert ApiToken.objects.get().revoked_at is not None
    assert tokens.token_for(issued.plaintext) is None
