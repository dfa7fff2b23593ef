from . import selectors


def workspace(request):
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    membership = request.membership
    return {
        "membership": membership,
        "workspace": membership.workspace if membership else None,
        "my_memberships": selectors.user_memberships(user=user),
        "can_edit": bool(membership and membership.allows("contributor")),
        "is_owner": bool(membership and membership.allows("owner")),
    }
