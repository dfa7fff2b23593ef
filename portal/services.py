import secrets
import string
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from .models import Membership, PasswordChangeRequired, Role, Workspace


class MembershipError(Exception):
    pass


@transaction.atomic
def workspace_create(*, name: str, owner) -> Workspace:
    workspace = Workspace.objects.create(name=name, slug=slugify(name) or "workspace")
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


class NoSuchUser(MembershipError):
    """No account matches: a superuser may create one (``email`` is set when an e-mail was given)."""

    def __init__(self, message: str, *, email: str = ""):
        super().__init__(message)
        self.email = email


def member_add(*, workspace, username_or_email: str, role: str) -> Membership:
    """Add an existing user, found by username or e-mail, to ``workspace``.
    There is no mail server: an unknown e-mail is an error, never an invitation sent."""
    wanted = username_or_email.strip()
    users = get_user_model().objects
    if "@" in wanted:
        matches = list(users.filter(email__iexact=wanted)[:2])
        if not matches:
            raise NoSuchUser(
                f"No user has the e-mail “{wanted}”. The portal sends no mail, so nobody was invited: "
                "an admin creates the account first.",
                email=wanted,
            )
        if len(matches) > 1:
            raise MembershipError(f"Several users have the e-mail “{wanted}”: add one by username.")
        user = matches[0]
    else:
        user = users.filter(username=wanted).first()
        if user is None:
            raise NoSuchUser(f"There is no user “{wanted}”. An admin creates accounts.")
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise MembershipError(f"{user.get_username()} is already a member of {workspace}.")
    return Membership.objects.create(workspace=workspace, user=user, role=role)


# No look-alikes (0/O, 1/l/I): the password is read off a screen and typed.
ONE_TIME_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


def one_time_password() -> str:
    return "-".join("".join(secrets.choice(ONE_TIME_ALPHABET) for _ in range(5)) for _ in range(4))


@dataclass(frozen=True)
class CreatedUser:
    membership: Membership
    one_time_password: str  # shown once, to the superuser who made the account; never stored in clear


@transaction.atomic
def user_create(*, workspace, username: str, email: str, role: str, created_by) -> CreatedUser:
    """A new account, a member of ``workspace``, with a one-time password it must
    change at its first sign-in. Only superusers make accounts."""
    if not created_by.is_superuser:
        raise MembershipError("Only a superuser creates accounts.")
    users = get_user_model().objects
    if users.filter(username__iexact=username).exists():
        raise MembershipError(f"The username “{username}” is taken.")
    if email and users.filter(email__iexact=email).exists():
        raise MembershipError(f"A user with the e-mail “{email}” exists already: add them as a member.")
    user = get_user_model()(username=username, email=email)
    password = one_time_password()
    try:
        validate_password(password, user)
    except ValidationError as exc:  # only if the site's validators are stricter than this generator
        raise MembershipError(" ".join(exc.messages)) from None
    user.set_password(password)
    user.save()
    PasswordChangeRequired.objects.create(user=user, created_by=created_by)
    membership = Membership.objects.create(workspace=workspace, user=user, role=role)
    return CreatedUser(membership=membership, one_time_password=password)


def password_change_required(*, user) -> bool:
    return user.is_authenticated and PasswordChangeRequired.objects.filter(user=user).exists()


def password_changed(*, user) -> None:
    """The user chose their own password: the one-time one is gone, and so is the flag."""
    PasswordChangeRequired.objects.filter(user=user).delete()


@transaction.atomic
def member_set_role(*, membership: Membership, role: str) -> None:
    if membership.role == Role.OWNER and role != Role.OWNER:
        _keep_an_owner(membership)
    membership.role = role
    membership.save(update_fields=["role"])


@transaction.atomic
def member_remove(*, membership: Membership) -> None:
    if membership.role == Role.OWNER:
        _keep_an_owner(membership)
    membership.delete()


def _keep_an_owner(membership):
    owners = Membership.objects.select_for_update().filter(workspace=membership.workspace, role=Role.OWNER)
    if owners.exclude(pk=membership.pk).count() == 0:
        raise MembershipError("A workspace needs at least one owner: make someone else owner first.")
