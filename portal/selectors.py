from .models import Membership


def current_membership(*, user, workspace_id=None) -> Membership | None:
    memberships = Membership.objects.select_related("workspace").filter(user=user)
    if workspace_id is not None:
        chosen = memberships.filter(workspace_id=workspace_id).first()
        if chosen:
            return chosen
    return memberships.order_by("workspace__name").first()


def user_memberships(*, user):
    return Membership.objects.select_related("workspace").filter(user=user)


def workspace_members(*, workspace):
    return Membership.objects.select_related("user").filter(workspace=workspace)
