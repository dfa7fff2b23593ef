"""SSH host keys as stored on a target: "<type> <base64 blob>"."""

import base64
import binascii
import hashlib


class BadHostKey(ValueError):
    pass


def fingerprint(key_line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a stored key, e.g. ``SHA256:AbC…``."""
    try:
        _, blob = key_line.split()[:2]
        raw = base64.b64decode(blob, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise BadHostKey("Not a host key.") from exc
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def parse_known_hosts_line(line: str) -> str:
    """Accepts ``[host] type base64 [comment]`` or ``type base64``; returns ``type base64``."""
    parts = line.strip().split()
    if parts and not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        parts = parts[1:]  # a known_hosts line starts with the host pattern
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise BadHostKey("Paste one line of known_hosts: '[host] <key type> <base64 key>'.")
    key_line = f"{parts[0]} {parts[1]}"
    fingerprint(key_line)
    return key_line
