"""The environment a folder brings: requirements.txt, environment.yml or
pyproject.toml dependencies, found in the stored snapshot."""

import pytest
from django.urls import reverse

from runs import services
from runs.environment_files import MAX_FILE_BYTES, detect_environment

from .conftest import folder_upload, zip_file
from .test_api import base

CONDA = "name: demo\ndependencies:\n  - python=3.11\n  - pip:\n    - six\n"
PYPROJECT = '[project]\nname = "demo"\ndependencies = ["scikit-learn>=1.3", "numpy"]\n'


def detected(team, files: dict[str, str]):
    snapshot = services.snapshot_create(
        workspace=team.workspace, files=folder_upload({"train.py": "", **files})
    )
    return detect_environment(snapshot)


@pytest.mark.django_db
def test_requirements_txt_is_found_first(team):
    found = detected(team, {"requirements.txt": "scikit-learn\n", "environment.yml": CONDA})
    assert found == {"path": "requirements.txt", "kind": "pip", "text": "scikit-learn", "error": ""}


@pytest.mark.django_db
def test_conda_environment_file(team):
    found = detected(team, {"environment.yml": CONDA})
    assert found["kind"] == "conda" and found["text"] == CONDA.strip() and not found["error"]
    # what the form would send is a valid conda spec
    assert services.environment_spec(kind="conda", requirements=found["text"])["kind"] == "conda"


@pytest.mark.django_db
def test_pyproject_dependencies_become_pip_requirements(team):
    found = detected(team, {"pyproject.toml": PYPROJECT})
    assert found["path"] == "pyproject.toml" and found["kind"] == "pip"
    assert found["text"] == "scikit-learn>=1.3\nnumpy"
    assert detected(team, {"pyproject.toml": '[project]\nname = "demo"\n'}) is None


@pytest.mark.django_db
def test_nothing_found_and_nested_files_ignored(team):
    assert detected(team, {}) is None
    assert detected(team, {"lib/requirements.txt": "six"}) is None


@pytest.mark.django_db
def test_an_archive_with_one_top_folder(team):
    upload = zip_file([("proj/train.py", b""), ("proj/requirements.txt", b"six\n")])
    snapshot = services.snapshot_create(workspace=team.workspace, upload=upload)
    assert detect_environment(snapshot)["text"] == "six"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("pyproject.toml", "[project\ndependencies = [", "not valid TOML"),
        ("pyproject.toml", "[project]\ndependencies = 3\n", "must be a list"),
        ("pyproject.toml", "project = 1\n", None),
        ("environment.yml", "dependencies: [a\n  b: {", "not valid YAML"),
        ("environment.yml", "name: x\n", "needs a dependencies: list"),
        ("requirements.txt", "x" * (MAX_FILE_BYTES + 1), "is over 64 KB"),
    ],
)
def test_malformed_files_get_a_message(team, name, text, message):
    found = detected(team, {name: text})
    if message is None:
        assert found is None
    else:
        assert message in found["error"] and found["text"] == ""


@pytest.mark.django_db
def test_requirements_that_are_not_utf8(team):
    files = folder_upload({"train.py": "", "requirements.txt": b"\xff\xfe"})
    found = detect_environment(services.snapshot_create(workspace=team.workspace, files=files))
    assert "not UTF-8" in found["error"]


@pytest.mark.django_db
def test_preview_offers_the_file_and_shows_a_malformed_one(team, login):
    client = login(team.contributor)

    def preview(files):
        upload = folder_upload({"train.py": "", **files})
        return client.post(
            reverse("snapshot-preview"),
            {"files": [f for _, f in upload], "paths": "\n".join(p for p, _ in upload)},
        )

    response = preview({"requirements.txt": "scikit-learn\n"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Found requirements.txt — use it" in html and 'data-kind="pip"' in html
    assert '<script id="environment-file-text" type="application/json">"scikit-learn"</script>' in html
    response = preview({"pyproject.toml": "[project"})
    assert response.status_code == 200 and "not valid TOML" in response.content.decode()
    assert "use it" not in preview({}).content.decode()


@pytest.mark.django_db
def test_api_snapshot_json_has_the_environment_file(team, api):
    snapshot = services.snapshot_create(
        workspace=team.workspace, files=folder_upload({"train.py": "", "environment.yml": CONDA})
    )
    data = api(team.reader, team.workspace).get(f"{base(team.workspace)}/snapshots/{snapshot.sha256}/").json()
    assert data["environment_file"] == {
        "path": "environment.yml",
        "kind": "conda",
        "text": CONDA.strip(),
        "error": "",
    }
