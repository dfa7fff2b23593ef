"""The run page names the kind of environment the run uses."""

import re

import pytest
from django.urls import reverse

from runs import services
from runs.models import Run


@pytest.fixture
def run_with(local_target, submit):
    def _submit(environment: dict) -> Run:
        return submit(local_target, {"train.py": "print(1)\n"}, environment=environment)

    return _submit


def environment_cell(client, run) -> str:
    page = client.get(reverse("run-detail", args=[run.pk])).content.decode()
    cell = re.search(rf'<td id="run-{run.pk}-environment">(.*?)</td>', page, re.S).group(1)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip()


@pytest.mark.parametrize(
    "kind, extra, label",
    [
        ("user", {"interpreter": "/opt/py/bin/python3"}, "user-managed /opt/py/bin/python3"),
        ("pip", {"requirements": "numpy==2.0"}, "pip requirements "),
        ("conda", {"requirements": "name: x\ndependencies:\n  - numpy\n"}, "conda environment file conda-"),
    ],
)
def test_environment_is_labelled_by_its_kind(team, login, run_with, kind, extra, label):
    run = run_with(services.environment_spec(kind=kind, **extra))
    cell = environment_cell(login(team.reader), run)
    assert cell.startswith(label)
    assert ("user-managed" in cell) == (kind == "user")
