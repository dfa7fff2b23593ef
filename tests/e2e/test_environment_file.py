"""The example folder's requirements.txt, offered on the submit page and used with one click."""

from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sklearn"


def test_found_requirements_fill_the_environment(page, live_portal, sign_in, screenshot, team):
    sign_in(team.contributor)
    page.goto(f"{live_portal}/runs/new/")
    page.set_input_files("#folder-input", str(EXAMPLE))
    page.click("#preview-button")
    button = page.locator("#use-environment-file")
    button.wait_for()
    assert button.inner_text() == "Found requirements.txt — use it"
    assert page.locator("#env-pip").is_hidden()  # the target's Python until the user picks the file
    screenshot("submit-found-requirements")
    button.click()
    assert page.locator("input[name=environment][value=pip]").is_checked()
    assert page.locator("#id_requirements").input_value() == "scikit-learn"
    assert page.locator("#env-pip").is_visible()
    screenshot("submit-found-requirements-used")
    page.check("input[name=environment][value=user]")  # the target's Python is still a choice
    assert page.locator("#env-user").is_visible() and page.locator("#env-pip").is_hidden()
