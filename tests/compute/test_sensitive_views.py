"""Views whose forms carry secrets keep them out of error reports: the POST
data is filtered (sensitive_post_parameters) and so are the locals that hold
them (sensitive_variables), in the report Django would mail to the admins."""

import sys

import pytest
from django.contrib.auth.signals import user_login_failed
from django.core.signals import got_request_exception
from django.test import Client
from django.views.debug import ExceptionReporter

from tests.conftest import SSH_PASSWORD, SSH_USER

pytestmark = pytest.mark.django_db

SECRET = "not-shown-4b7e1c9d2a"


@pytest.fixture
def error_report(monkeypatch):
    """Makes ``where`` raise, posts, and returns the error report's text and the request."""
    reports = []

    def report(sender, request, **kwargs):
        reports.append((ExceptionReporter(request, *sys.exc_info()).get_traceback_text(), request))

    def _post(client, url, data, where):
        def boom(*args, **kwargs):
            raise RuntimeError("boom in the service")

        monkeypatch.setattr(where, boom)
        got_request_exception.connect(report)
        try:
            client.raise_request_exception = False
            assert client.post(url, data).status_code == 500
        finally:
            got_request_exception.disconnect(report)
        assert len(reports) == 1
        return reports[0]

    return _post


def test_adding_a_target_keeps_its_credentials_out_of_error_reports(team, login, error_report):
    data = {
        "kind": "ssh",
        "name": "vm1",
        "address": "127.0.0.1",
        "port": "22",
        "username": SSH_USER,
        "workdir": "portal-runs",
        "password": SECRET,
    }
    text, request = error_report(
        login(team.contributor), "/compute/add/", data, "compute.services._queue_check"
    )
    assert "boom in the service" in text and "target_attach" in text  # a real report, with frames
    assert request.sensitive_post_parameters == "__ALL__"
    assert SECRET not in text


def test_replacing_a_credential_keeps_it_out_of_error_reports(team, login, ssh_target, error_report):
    ssh_target("vm1", password=SSH_PASSWORD)
    text, request = error_report(
        login(team.contributor),
        "/compute/vm1/secrets/password/",
        {"action": "replace", "value": SECRET},
        "compute.services._save_secrets",
    )
    assert "boom in the service" in text and "target_set_secret" in text
    assert "value" in request.sensitive_post_parameters
    assert SECRET not in text


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_login_forms_mark_the_password_sensitive(team, url):
    seen = []

    def failed(sender, credentials, request, **kwargs):
        seen.append((ExceptionReporter(request, None, None, None).get_traceback_text(), request))

    user_login_failed.connect(failed)
    try:
        Client().post(url, {"username": "rita", "password": SECRET})
    finally:
        user_login_failed.disconnect(failed)
    text, request = seen[0]
    assert request.sensitive_post_parameters  # Django's own views mark every field or the password
    assert SECRET not in text
