from django.utils.functional import SimpleLazyObject

from . import selectors

SESSION_KEY = "workspace_id"


class CurrentWorkspaceMiddleware:
    """Sets ``request.membership`` (and ``request.workspace``) for the signed-in user.

    The current workspace is kept in the session; a user who is no longer a
    member of it falls back to their first workspace.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = SimpleLazyObject(lambda: self._membership(request))
        request.workspace = SimpleLazyObject(
            lambda: request.membership.workspace if request.membership else None
        )
        return self.get_response(request)

    @staticmethod
    def _membership(request):
        if not request.user.is_authenticated:
            return None
        return selectors.current_membership(
            user=request.user, workspace_id=request.session.get(SESSION_KEY)
        )
