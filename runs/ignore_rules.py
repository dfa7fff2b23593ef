"""The ignore rules live in the SDK (one implementation for the portal and its
clients); this module keeps the portal's import path."""

from portal_sdk.ignore_rules import (  # noqa: F401
    BACKEND,
    IGNORE_FILES,
    MAX_PATTERN_CHARS,
    MAX_PATTERNS,
    MAX_RULES_BYTES,
    IgnoreRulesError,
    load,
    parse,
)
