"""Project-wide checks: deploy settings, migrations, lint, first admin."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, env=None, **kwargs):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def production_env(tmp_path):
    return {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "PORTAL_HTTPS": "true",
        "SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-0123456789",
        "PORTAL_VAR_DIR": str(tmp_path),
        "ALLOWED_HOSTS": "portal.example.org",
    }


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_an_insecure_setup(tmp_path):
    env = {**production_env(tmp_path), "PORTAL_HTTPS": "false"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0 and "SESSION_COOKIE_SECURE" in result.stderr + result.stdout


def test_no_missing_migrations(tmp_path):
    result = manage("makemigrations", "--check", "--dry-run", env={"PORTAL_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_secrets_can_come_from_files(tmp_path):
    (tmp_path / "key").write_text("from-a-file-secret-key-" + "y" * 40)
    (tmp_path / "enc").write_text("first-key, second-key\n")
    env = {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_VAR_DIR": str(tmp_path),
        "SECRET_KEY_FILE": str(tmp_path / "key"),
        "PORTAL_ENCRYPTION_KEYS_FILE": str(tmp_path / "enc"),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SECRET_KEY, s.SECRET_ENCRYPTION_KEYS)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert result.stdout.strip() == "from-a-file-secret-key-" + "y" * 40 + " ['first-key', 'second-key']"


def test_ruff_is_clean():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    result = subprocess.run([str(ruff), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.slow
def test_bootstrap_generates_and_prints_a_password_once(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PORTAL_ADMIN_PASSWORD")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings", PORTAL_VAR_DIR=str(tmp_path), PORTAL_ADMIN_USER="boss"
    )

    def run(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, env=env
        )

    # An older install: a var dir and a key file anyone could read.
    tmp_path.chmod(0o755)  # noqa: S103 - the start-up must tighten it
    (tmp_path / "secret_key").write_text("k" * 50)
    (tmp_path / "secret_key").chmod(0o644)
    assert run("migrate", "-v0").returncode == 0
    first = run("bootstrap")
    assert "Created admin 'boss' with password:" in first.stdout
    password = first.stdout.split("password:")[1].split()[0]
    second = run("bootstrap")
    assert password not in second.stdout and "Created admin" not in second.stdout
    # Not authenticate(): login throttling (django-axes) insists on a request to count against.
    code = (
        "from django.contrib.auth.models import User; "
        f"print(User.objects.get(username='boss').check_password('{password}'))"
    )
    assert run("shell", "-c", code).stdout.strip().splitlines()[-1] == "True"
    # Only the workspace bootstrap made has the local computer; one made later has not.
    code = (
        "from portal.models import Workspace as W; from portal.services import workspace_create as c; "
        "from django.contrib.auth.models import User; c(name='Later', owner=User.objects.get()); "
        "print([(w.name, w.local_target_allowed, w.targets.filter(kind='local').count()) for w in W.objects.all()])"
    )
    assert (
        run("shell", "-c", code).stdout.strip().splitlines()[-1]
        == "[('Default', True, 1), ('Later', False, 0)]"
    )
    # The var dir is private to the portal's user, its keys and database 0600 (made so at start-up).
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    for name in ("secret_key", "encryption_key", "portal.sqlite3"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
