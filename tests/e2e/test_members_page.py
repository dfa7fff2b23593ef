"""In a real browser: a superuser creates an account from the members page,
its one-time password shown once; the new member signs in and must change it."""

import pytest
from playwright.sync_api import expect

from portal.models import Membership, Role
from tests.secret_scan import plant

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def test_create_an_account_and_its_first_sign_in(
    page, live_portal, team, sign_in, screenshot, django_user_model
):
    from tests.factories import PASSWORD, add_member

    boss = django_user_model.objects.create_superuser("boss", password=PASSWORD)
    add_member(team.workspace, boss, Role.OWNER)
    sign_in(boss)
    page.goto(f"{live_portal}/workspace/members/")
    page.fill("#id_username_or_email", "grace@example.org")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#member-add-form")).to_contain_text("The portal sends no mail")
    expect(page.locator("#id_new-email")).to_have_value("grace@example.org")  # offered: create the user
    page.get_by_role("button", name="Create the user").click()
    expect(page.locator("#user-created")).to_contain_text("it will not be shown again")
    password = page.input_value("#user-created-password")
    expect(page.locator("tbody")).to_contain_text("grace")
    screenshot("members-user-created")
    plant(password)  # from here on, the scan fails any response or log line that holds it

    page.reload()  # shown once: never again, and a reload makes no second account
    expect(page.locator("#user-created")).to_have_count(0)
    assert django_user_model.objects.filter(username="grace").count() == 1

    page.context.clear_cookies()
    page.goto(f"{live_portal}/login/")
    page.fill("#id_username", "grace")
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_portal}/password/")
    expect(page.locator("#password-change-required")).to_be_visible()
    page.fill("#id_old_password", password)
    page.fill("#id_new_password1", "grace-chooses-her-own")
    page.fill("#id_new_password2", "grace-chooses-her-own")
    page.click("#password-change-form button[type=submit]")
    page.wait_for_url(f"{live_portal}/")
    expect(page.locator("#workspace-switcher")).to_contain_text("Vision team")
    assert Membership.objects.get(user__username="grace").role == Role.CONTRIBUTOR
    screenshot("members-first-sign-in")
