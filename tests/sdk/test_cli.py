"""The CLI's output and exit codes against a scripted portal."""

import json

import pytest

from portal_sdk import _http, cli

from .fakes import TOKEN, URL, FakePortal, target
from .test_runs import log_page, run_payload


@pytest.fixture
def portal(monkeypatch, tmp_path):
    fake = FakePortal()
    monkeypatch.setattr(_http.requests, "Session", lambda: fake)
    for name in ("PORTAL_URL", "PORTAL_WORKSPACE", "PORTAL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"url": URL, "workspace": "team", "token": TOKEN}))
    return fake


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["run", "submit", "src"])
    assert caught.value.code == 2
    assert "--script" in capsys.readouterr().err


def test_not_logged_in_exits_4(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("PORTAL_URL", "PORTAL_WORKSPACE", "PORTAL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["compute", "list"]) == 4
    assert "portal login" in capsys.readouterr().err


def test_compute_list_table_and_json(portal, capsys):
    portal.on("GET", r"workspaces/team/computes/", (200, [target("vm1", "ssh", summary="2 CPUs")]))
    assert cli.main(["compute", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "ORIGIN", "STATE", "SUMMARY"]
    assert lines[1].split() == ["vm1", "ssh", "attached", "Succeeded", "2", "CPUs"]
    assert cli.main(["compute", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "vm1"


def test_a_portal_error_exits_3_with_its_message(portal, capsys):
    portal.on(
        "GET", r"workspaces/team/computes/nope/", (404, {"detail": "No compute target “nope” in team."})
    )
    assert cli.main(["compute", "show", "nope"]) == 3
    err = capsys.readouterr().err
    assert "No compute target named 'nope'" in err and TOKEN not in err


def test_attach_reads_the_password_from_stdin(portal, monkeypatch, capsys):
    import io

    portal.on("POST", r"workspaces/team/computes/", (201, target("vm1", "ssh", "Attaching")))
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2\n"))
    code = cli.main(
        ["compute", "attach", "vm1", "--address", "vm.lan", "--username", "me", "--password-stdin", "--json"]
    )
    assert code == 0
    body = portal.requests_to("POST")[0]["json"]
    assert body == {"kind": "ssh", "name": "vm1", "address": "vm.lan", "port": 22, "username": "me", "password": "hunter2"}  # fmt: skip
    assert "hunter2" not in capsys.readouterr().out


def test_submit_wait_json_exits_1_for_a_failed_run(portal, tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("raise SystemExit(3)\n")
    portal.on("HEAD", r"workspaces/team/snapshots/\w+/", (404, None))
    portal.on("PUT", r"workspaces/team/snapshots/\w+/", (201, {}))
    portal.on("POST", r"workspaces/team/runs/", (201, run_payload()))
    portal.on("GET", r"workspaces/team/runs/7/logs/", log_page([], 0, finished=True, status="Failed"))
    portal.on(
        "GET", r"workspaces/team/runs/7/", (200, run_payload("Failed", error="Exit code 3", exit_code=3))
    )
    code = cli.main(
        ["run", "submit", "src", "--script", "train.py", "--target", "local", "--arg=--alpha", "--arg", "1",
         "--wait", "--json"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    result = json.loads(captured.out)
    assert result["status"] == "Failed" and result["exit_code"] == 3 and result["uploaded_bytes"] > 0
    assert "Run 7 failed: Exit code 3" in captured.err
    assert portal.requests_to("POST")[0]["json"]["arguments"] == ["--alpha", "1"]


def test_logs_follow_prints_the_log_and_exits_0_when_completed(portal, capsys):
    portal.on("GET", r"workspaces/team/runs/7/", (200, run_payload("Completed")))
    portal.on("GET", r"workspaces/team/runs/7/logs/", log_page([{"seq": 1, "stream": "stdout", "text": "hi\n"}], 1, finished=True, status="Completed"))  # fmt: skip
    assert cli.main(["run", "logs", "7", "-f"]) == 0
    assert capsys.readouterr().out == "hi\n"


def test_login_writes_a_private_config(portal, tmp_path, monkeypatch, capsys):
    import io

    portal.on("GET", r"workspaces/team/", (200, {"name": "Team", "slug": "team", "role": "contributor"}))
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN + "\n"))
    file = tmp_path / "home" / ".portal" / "config.json"
    assert cli.main(["login", "--url", URL, "--workspace", "team", "--token-stdin"]) == 0
    assert json.loads(file.read_text()) == {"url": URL, "workspace": "team", "token": TOKEN}
    assert file.stat().st_mode & 0o777 == 0o600
    assert TOKEN not in capsys.readouterr().out
