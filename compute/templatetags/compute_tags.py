from django import template

from .. import hostkeys

register = template.Library()


@register.filter
def fingerprint(key_line: str) -> str:
    try:
        return hostkeys.fingerprint(key_line)
    except hostkeys.BadHostKey:
        return "(unreadable key)"


@register.filter
def key_type_short(key_line: str) -> str:
    """ssh-ed25519 → ed25519, ecdsa-sha2-nistp256 → ecdsa, ssh-rsa → rsa."""
    kind = key_line.split()[0] if key_line else ""
    return kind.removeprefix("ssh-").split("-")[0]
