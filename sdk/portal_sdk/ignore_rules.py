"""Ignore rules (``.amlignore``, else ``.gitignore``) with gitignore semantics,
bounded so a hostile rules file cannot pin a web thread.

pathspec turns each pattern into a regular expression; with Python's ``re`` a
pattern such as ``*a*a*a*a*a*a*a*a*a*a*a*a*b`` backtracks exponentially (seconds
for a 30-character name, hours for a longer one). The RE2 backend matches in
linear time, and the counts and lengths below bound the work per file.
"""

from pathlib import Path

import pathspec

IGNORE_FILES = (".amlignore", ".gitignore")
MAX_PATTERNS = 1000
MAX_PATTERN_CHARS = 500
MAX_RULES_BYTES = 1024 * 1024
BACKEND = "re2"  # linear-time; google-re2 is a pinned requirement


class IgnoreRulesError(Exception):
    """A rules file that is refused; the message says why."""


def parse(text: str, *, source: str = ".amlignore") -> pathspec.GitIgnoreSpec:
    lines = text.splitlines()
    patterns = [
        (number, line) for number, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")
    ]
    if len(patterns) > MAX_PATTERNS:
        raise IgnoreRulesError(f"{source} has {len(patterns)} patterns: at most {MAX_PATTERNS} are accepted.")
    for number, line in patterns:
        if len(line) > MAX_PATTERN_CHARS:
            raise IgnoreRulesError(
                f"{source} line {number} is {len(line)} characters long: patterns may have at most "
                f"{MAX_PATTERN_CHARS}."
            )
    try:
        return pathspec.GitIgnoreSpec.from_lines([line for _, line in patterns], backend=BACKEND)
    except Exception as exc:  # noqa: BLE001 - pathspec and re2 raise several kinds
        raise IgnoreRulesError(f"{source} has a pattern that cannot be read: {str(exc)[:200]}") from None


def load(root: Path) -> tuple[pathspec.GitIgnoreSpec | None, str]:
    """The spec from the first rules file found in ``root`` and its name; (None, "") when none."""
    for name in IGNORE_FILES:
        path = root / name
        if path.is_file():
            if path.stat().st_size > MAX_RULES_BYTES:
                raise IgnoreRulesError(f"{name} is larger than {MAX_RULES_BYTES // 1024} KB.")
            return parse(path.read_text(errors="replace"), source=name), name
    return None, ""
