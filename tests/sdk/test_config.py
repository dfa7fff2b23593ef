"""Finding the workspace: config.json like the cloud SDK, else environment variables."""

import json
import os

import pytest

from portal_sdk import UserErrorException, Workspace
from portal_sdk.core.workspace import find_config, write_config

from .fakes import TOKEN, URL, FakePortal, target, workspace


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("PORTAL_URL", "PORTAL_WORKSPACE", "PORTAL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write(path, **values):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))
    return path


def test_config_json_in_the_current_folder(tmp_path, monkeypatch):
    write(tmp_path / "config.json", url=URL + "/", workspace="team", token=TOKEN)
    monkeypatch.chdir(tmp_path)
    ws = Workspace.from_config()
    assert (ws.url, ws.name) == (URL, "team")


def test_dot_azureml_config_in_a_parent_folder(tmp_path, monkeypatch):
    write(tmp_path / ".azureml" / "config.json", url=URL, workspace_name="team", token=TOKEN)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert Workspace.from_config().name == "team"


def test_the_nearest_file_wins(tmp_path, monkeypatch):
    write(tmp_path / "config.json", url=URL, workspace="outer", token=TOKEN)
    write(tmp_path / "inner" / "config.json", url=URL, workspace="inner", token=TOKEN)
    monkeypatch.chdir(tmp_path / "inner")
    assert Workspace.from_config().name == "inner"


def test_an_explicit_path(tmp_path):
    file = write(tmp_path / "elsewhere.json", url=URL, workspace="team", token=TOKEN)
    assert Workspace.from_config(file).name == "team"


def test_environment_variables_when_there_is_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORTAL_URL", URL)
    monkeypatch.setenv("PORTAL_WORKSPACE", "team")
    monkeypatch.setenv("PORTAL_TOKEN", TOKEN)
    assert Workspace.from_config().name == "team"


def test_a_file_without_its_token_takes_the_environments(tmp_path, monkeypatch):
    write(tmp_path / "config.json", url=URL, workspace="team")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserErrorException, match="needs token"):
        Workspace.from_config()
    monkeypatch.setenv("PORTAL_TOKEN", TOKEN)
    assert Workspace.from_config().name == "team"


def test_nothing_found_says_to_log_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserErrorException, match="portal login"):
        Workspace.from_config()


def test_the_home_config_written_by_login_is_found_from_anywhere(tmp_path, monkeypatch):
    home_file = tmp_path / "home" / ".portal" / "config.json"
    write_config(home_file, url=URL, workspace="team", token=TOKEN)
    assert oct(home_file.stat().st_mode & 0o777) == "0o600"
    elsewhere = tmp_path / "project"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert find_config() == home_file
    assert Workspace.from_config().name == "team"


def test_the_token_is_not_in_reprs_or_errors():
    portal = FakePortal().on("GET", r"workspaces/team/computes/", (500, {"detail": "boom"}))
    ws = workspace(portal)
    assert TOKEN not in repr(ws) and TOKEN not in repr(ws._client)
    with pytest.raises(Exception) as caught:
        ws.compute_targets  # noqa: B018
    assert TOKEN not in str(caught.value)
    assert portal.calls[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_compute_targets_is_a_dict_that_can_be_called():
    portal = FakePortal().on(
        "GET", r"workspaces/team/computes/", (200, [target("vm1", "ssh"), target("box", "container")])
    )
    targets = workspace(portal).compute_targets
    assert sorted(targets) == ["box", "vm1"]
    assert [(ct.name, ct.type) for ct in targets()] == [
        ("vm1", "VirtualMachine"),
        ("box", "ContainerInstance"),
    ]


def test_workspace_get_checks_the_workspace(monkeypatch):
    from portal_sdk import _http

    portal = FakePortal().on(
        "GET", r"workspaces/team/", (200, {"name": "Team", "slug": "team", "role": "owner"})
    )
    monkeypatch.setattr(_http.requests, "Session", lambda: portal)
    ws = Workspace.get("team", url=URL, token=TOKEN)
    assert ws._details["role"] == "owner"
    portal.on("GET", r"workspaces/nope/", (404, {"detail": "No workspace “nope” here."}))
    with pytest.raises(Exception, match="No workspace “nope” here."):
        Workspace.get("nope", url=URL, token=TOKEN)
    assert os.environ.get("PORTAL_TOKEN") is None


def test_the_docs_snippets_change_only_their_import_lines():
    from .docs_snippets import code_blocks, page_text, port_imports

    blocks = code_blocks(page_text())
    assert len(blocks) == 11  # the page's python blocks, the unclosed attach block included
    for block in blocks:
        ported = port_imports(block)
        changed = [(a, b) for a, b in zip(block.splitlines(), ported.splitlines(), strict=True) if a != b]
        assert all(a.lstrip().startswith(("from azureml", "import azureml")) for a, _ in changed)
        assert all("portal_sdk" in b for _, b in changed)
