"""Logins are throttled per username and address (django-axes): the lockout
is a login page with the reason, the admin's login too, others unaffected."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed logins for this account"


def attempt(username, password, *, url="/login/", address="10.0.0.1"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(url, {"username": username, "password": password})
    return client, response


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_five_failures_lock_the_account_out_from_that_address(team):
    for _ in range(4):
        _, response = attempt("rita", "wrong")
        assert response.status_code == 200 and LOCKED not in response.content.decode()
    _, response = attempt("rita", "wrong")
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page and "15 minutes" in page and 'name="password"' in page
    client, response = attempt("rita", PASSWORD)
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert not logged_in(client)
    assert "wrong" not in page and PASSWORD not in response.content.decode()


def test_other_users_and_other_addresses_are_unaffected(team):
    for _ in range(5):
        attempt("rita", "wrong")
    client, response = attempt("carlos", PASSWORD)
    assert response.status_code == 302 and logged_in(client)
    client, response = attempt("rita", PASSWORD, address="10.0.0.2")
    assert response.status_code == 302 and logged_in(client)


def test_the_lockout_ends_after_the_cool_off(team, settings):
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME
    for _ in range(5):
        attempt("rita", "wrong")
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    client, response = attempt("rita", PASSWORD)
    assert response.status_code == 302 and logged_in(client)


def test_a_success_before_the_limit_starts_the_count_again(team):
    for _ in range(4):
        attempt("rita", "wrong")
    assert attempt("rita", PASSWORD)[1].status_code == 302
    for _ in range(4):
        assert attempt("rita", "wrong")[1].status_code == 200


def test_the_admin_login_is_throttled_too(team):
    team.owner.is_staff = team.owner.is_superuser = True
    team.owner.save()
    url = reverse("admin:login")
    for _ in range(5):
        _, response = attempt("olivia", "wrong", url=url)
    assert response.status_code == 429 and LOCKED in response.content.decode()
    client, response = attempt("olivia", PASSWORD, url=url)
    assert response.status_code == 429 and not logged_in(client)
