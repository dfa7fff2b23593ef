"""Every environment variable the settings read is in README's settings table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_variable_the_settings_read_is_documented():
    source = (ROOT / "portal" / "settings.py").read_text()
    names = set(
        re.findall(
            r"""(?:environ\.Env\(\)\.\w+|env\.\w+|_secret|_persisted_secret)\(\s*["']([A-Z][A-Z0-9_]+)["']""",
            source,
        )
    )
    assert {
        "DATABASE_URL",
        "REDIS_URL",
        "PORTAL_VAR_DIR",
        "SECRET_KEY",
        "LOG_LEVEL",
    } <= names  # the pattern works
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("### Settings (environment)") :]
    table = table[: table.index("\n#")]
    documented = set(re.findall(r"^\|([^|]*)\|", table, re.M)[2:])
    documented = {name for cell in documented for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    assert sorted(names - documented) == []
