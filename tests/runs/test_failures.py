"""A failed run shows its cause first: the script's exception, or the installer's error line."""

import pytest

from compute.backends.base import BackendError
from runs import failures, images, services
from runs.lease import claim, owner_token
from runs.models import RunLogChunk, RunStatus

from .test_execution import finished, text_of

PIP_LOG = """Collecting six
  Using cached six-1.16.0-py2.py3-none-any.whl
WARNING: Retrying (Retry(total=4)) after connection broken: /simple/this-package-does-not-exist-portal/
ERROR: Could not find a version that satisfies the requirement this-package-does-not-exist-portal==1.0 (from versions: none)
ERROR: No matching distribution found for this-package-does-not-exist-portal==1.0
"""

CONDA_LOG = """Collecting package metadata (repodata.json): done
Solving environment: failed

PackagesNotFoundError: The following packages are not available from current channels:

  - nosuchpkg-portal
"""


def test_build_summary_names_the_requirement_and_pips_error_line():
    summary, tail = failures.build_summary("The environment build failed", PIP_LOG)
    assert "this-package-does-not-exist-portal==1.0" in summary
    assert "No matching distribution found" in summary or "Could not find a version" in summary
    assert tail.splitlines() == PIP_LOG.strip().splitlines()[-2:]


def test_build_summary_of_a_conda_failure_keeps_its_error():
    summary, tail = failures.build_summary("The environment build failed", CONDA_LOG)
    assert "PackagesNotFoundError" in summary and "nosuchpkg-portal" in tail


def test_build_summary_without_error_lines_keeps_the_log_end():
    summary, tail = failures.build_summary("The image build failed: exit status 1", "a\nb\nc\n")
    assert summary == "The image build failed: exit status 1" and tail == "a\nb\nc"


UNTRUSTED_LOG = """Collecting scikit-learn
WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)'))': /simple/scikit-learn/
ERROR: Could not find a version that satisfies the requirement scikit-learn (from versions: none)
ERROR: No matching distribution found for scikit-learn
"""


def test_an_untrusted_index_certificate_is_the_cause_not_the_missing_distribution():
    summary, tail = failures.build_summary("The image build failed", UNTRUSTED_LOG)
    assert summary == (
        f"The image build failed: the requirement scikit-learn could not be downloaded: {failures.UNTRUSTED_HINT}"
    )
    assert "No matching distribution" not in summary
    assert "CERTIFICATE_VERIFY_FAILED" in tail.splitlines()[0]
    assert tail.splitlines()[-1] == "ERROR: No matching distribution found for scikit-learn"


def test_last_line_is_the_exception():
    tail = "Traceback (most recent call last):\n  File x\nModuleNotFoundError: No module named 'q'\n\n"
    assert failures.last_line(tail) == "ModuleNotFoundError: No module named 'q'"


class FailingImageBackend:
    tag = "localhost/portal-env:test"

    def prepare_image(self, on_line):
        for i in range(30):
            on_line(f"WARNING: Retrying (Retry(total={i})) after connection broken")
        on_line("ERROR: No matching distribution found for this-package-does-not-exist-portal==1.0")
        raise BackendError("The image build failed: exit status 1", permanent=True)


@pytest.mark.django_db
def test_a_failed_image_build_keeps_pips_error_lines(idle_run):
    owner = owner_token()
    run = claim(idle_run.pk, owner)
    with pytest.raises(images.ImageBuildFailed) as caught:
        images.prepare_image(run, FailingImageBackend(), owner, "note")
    system = text_of(run, "system")  # the full log download reads these rows
    assert system.rstrip().endswith(
        "No matching distribution found for this-package-does-not-exist-portal==1.0"
    )
    assert "this-package-does-not-exist-portal==1.0" in caught.value.message
    assert "exit status 1" in caught.value.message
    assert caught.value.tail.startswith("ERROR: No matching distribution")


NOISY_THEN_MISSING_MODULE = """
import sys
for i in range(300):
    print(f"epoch {i} loss {1 / (i + 1):.4f}")
for i in range(40):
    print(f"warning {i}: something noisy", file=sys.stderr)
import not_installed_portal_module
"""


@pytest.mark.integration
@pytest.mark.slow
def test_a_script_failure_shows_its_exception_not_the_build_output(
    worker, local_target, submit, client, team
):
    env = services.environment_spec(kind="pip", requirements="six")
    run = finished(
        submit(local_target, {"train.py": NOISY_THEN_MISSING_MODULE}, environment=env), timeout=170
    )
    assert run.status == RunStatus.FAILED and run.failure_kind == failures.SCRIPT
    assert RunLogChunk.objects.filter(run=run, stream="system").exists()
    system = text_of(run, "system")
    assert not any(line and line in run.stderr_tail for line in system.splitlines())
    assert (
        run.stderr_tail.splitlines()[-1]
        == "ModuleNotFoundError: No module named 'not_installed_portal_module'"
    )

    client.force_login(team.reader)
    body = client.get(f"/api/v1/workspaces/{team.workspace.slug}/runs/{run.pk}/").json()
    keys = list(body)
    assert keys.index("failure") < keys.index("script")
    assert body["failure"]["kind"] == "script"
    assert body["failure"]["summary"] == "ModuleNotFoundError: No module named 'not_installed_portal_module'"
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "ModuleNotFoundError: No module named &#x27;not_installed_portal_module&#x27;</strong>" in page


@pytest.mark.integration
@pytest.mark.slow
def test_a_failed_environment_build_names_the_requirement(worker, local_target, submit, client, team):
    env = services.environment_spec(kind="pip", requirements="this-package-does-not-exist-portal==1.0")
    run = finished(submit(local_target, {"train.py": "print(1)"}, environment=env), timeout=170)
    assert run.status == RunStatus.FAILED and run.failure_kind == failures.ENVIRONMENT
    assert "The environment build failed" in run.error
    assert "this-package-does-not-exist-portal==1.0" in run.error
    assert "ERROR:" in run.stderr_tail and "this-package-does-not-exist-portal" in run.stderr_tail

    client.force_login(team.reader)
    failure = client.get(f"/api/v1/workspaces/{team.workspace.slug}/runs/{run.pk}/").json()["failure"]
    assert failure["kind"] == "environment" and failure["summary"] == run.error
    assert failure["tail"] == run.stderr_tail
