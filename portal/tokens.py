"""Personal access tokens: made, checked and revoked here, and nowhere else.

A token is ``pat_<prefix>_<secret>``: 32 random bytes, of which only the
sha256 is stored (a token has full entropy, so a fast hash is the right one;
a slow password hash would only slow every request). The prefix is kept in
the clear so a list can tell tokens apart without showing them.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from .models import ApiToken, Membership

PREFIX = "pat_"
LAST_USED_EVERY = timedelta(minutes=1)  # at most one write per token per minute
MAX_DAYS = 366


class TokenError(Exception):
    """A token that cannot be made; the message says why."""


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    plaintext: str  # shown once, never stored


def digest_of(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def token_create(*, user, workspace, name: str, read_only: bool = False, days: int | None = 90) -> Issued:
    name = name.strip()
    if not name:
        raise TokenError("Give the token a name, e.g. the script or CI job that will use it.")
    if not Membership.objects.filter(user=user, workspace=workspace).exists():
        raise TokenError(f"{user} is not a member of {workspace}.")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise TokenError(f"A token lives from 1 to {MAX_DAYS} days.")
    prefix = secrets.token_hex(4)
    plaintext = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        workspace=workspace,
        name=name[:100],
        prefix=prefix,
        digest=digest_of(plaintext),
        read_only=read_only,
        expires_at=timezone.now() + timedelta(days=days) if days else None,
    )
    return Issued(token=token, plaintext=plaintext)


def token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def token_for(plaintext: str) -> ApiToken | None:
    """The active token with this text, its last use noted; None otherwise."""
    if not plaintext.startswith(PREFIX) or len(plaintext) > 200:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user", "workspace")
        .filter(digest=digest_of(plaintext), revoked_at__isnull=True, user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def user_tokens(*, user):
    return ApiToken.objects.select_related("workspace").filter(user=user)
