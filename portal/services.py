from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from .models import Membership, Role, Workspace


class MembershipError(Exception):
    pass


@transaction.atomic
def workspace_create(*, name: str, owner) -> Workspace:
    workspace = Workspace.objects.create(name=name, slug=slugify(name) or "workspace")
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def member_add(*, workspace, username: str, role: str) -> Membership:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise MembershipError(f"There is no user “{username}”. An admin creates accounts.")
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise MembershipError(f"{username} is already a member of {workspace}.")
    return Membership.objects.create(workspace=workspace, user=user, role=role)


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
