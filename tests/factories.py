from django.contrib.auth import get_user_model

from portal.models import Membership
from portal.services import workspace_create

PASSWORD = "correct-horse-battery"


def make_user(username: str):
    return get_user_model().objects.create_user(username=username, password=PASSWORD)


def make_workspace(name: str, owner, *, local_target: bool = False):
    """A workspace; ``local_target=True`` grants it the local computer, as a superuser would."""
    workspace = workspace_create(name=name, owner=owner)
    if local_target:
        from compute.local_grant import local_target_grant

        local_target_grant(workspace=workspace)
    return workspace


def add_member(workspace, user, role):
    return Membership.objects.create(workspace=workspace, user=user, role=role)


def make_token(
    user, workspace, *, read_only: bool = False, days: int | None = 30, name: str = "script"
) -> str:
    """A personal access token's plaintext, as its owner would copy it from the profile page."""
    from portal.tokens import token_create

    return token_create(user=user, workspace=workspace, name=name, read_only=read_only, days=days).plaintext
