"""Secrets: encrypted at rest with their own rotatable keys, never shown back."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from compute import services
from compute.models import ComputeTarget, TargetState
from portal import crypto
from tests.conftest import SSH_PASSWORD
from tests.secret_scan import plant

pytestmark = [pytest.mark.integration]  # ssh_target starts the test sshd


def raw_secrets(target):
    with connection.cursor() as cursor:
        cursor.execute("SELECT encrypted_secrets::text FROM compute_computetarget WHERE id = %s", [target.pk])
        return cursor.fetchone()[0]


def test_stored_encrypted_not_with_secret_key(ssh_target, settings):
    target = ssh_target()
    assert SSH_PASSWORD not in raw_secrets(target)
    settings.SECRET_KEY = "something-else-entirely-" * 3
    assert ComputeTarget.objects.get(pk=target.pk).secret("password") == SSH_PASSWORD


def test_rotation_re_encrypts_with_the_new_key(ssh_target, settings):
    target = ssh_target()
    old_key = settings.SECRET_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.SECRET_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_secret_keys")
    settings.SECRET_ENCRYPTION_KEYS = [new_key]  # the old key is dropped
    assert ComputeTarget.objects.get(pk=target.pk).secret("password") == SSH_PASSWORD


def test_a_secret_under_a_lost_key_fails_the_check_plainly(ssh_target, settings):
    target = ssh_target()
    settings.SECRET_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.SecretUnreadable):
        target.secret("password")
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.FAILED and "cannot be decrypted" in target.last_error


def test_status_page_shows_only_set_or_not_set(team, login, ssh_target):
    ssh_target("vm1")
    page = login(team.owner).get("/compute/vm1/").content.decode()
    assert SSH_PASSWORD not in page
    assert 'id="target-' in page and ">set</span>" in page and ">not set</span>" in page


def test_replace_and_clear_a_secret(team, login, ssh_target):
    target = ssh_target("vm1")
    client = login(team.contributor)
    new_password = plant("PLANTED-new-password-91ac")
    client.post("/compute/vm1/secrets/password/", {"action": "replace", "value": new_password})
    target.refresh_from_db()
    assert target.secret("password") == new_password and new_password not in raw_secrets(target)
    client.post("/compute/vm1/secrets/password/", {"action": "clear"})
    target.refresh_from_db()
    assert not target.has_secret("password")
    assert [e.reason for e in target.events.order_by("at", "pk")][-2:] == [
        "Password replaced.",
        "Password cleared.",
    ]


def test_replacing_with_a_bad_key_is_refused(team, login, ssh_target):
    target = ssh_target("vm1")
    response = login(team.contributor).post(
        "/compute/vm1/secrets/private_key/", {"action": "replace", "value": "nope"}, follow=True
    )
    assert "Not a private key" in response.content.decode()
    target.refresh_from_db()
    assert target.has_secret("password") and not target.has_secret("private_key")


def test_unknown_secret_field_is_404(team, login, ssh_target):
    ssh_target("vm1")
    assert login(team.contributor).post("/compute/vm1/secrets/token/", {"action": "clear"}).status_code == 404


def test_admin_never_shows_secrets(team, ssh_target, client, django_user_model):
    target = ssh_target("vm1")
    admin = django_user_model.objects.create_superuser("root-admin", password="x")
    client.force_login(admin)
    page = client.get(f"/admin/compute/computetarget/{target.pk}/change/").content.decode()
    assert "Credentials set" in page and "password" in page
    assert target.encrypted_secrets["password"] not in page  # not even the ciphertext
