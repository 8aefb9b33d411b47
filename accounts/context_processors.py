from django.utils.functional import SimpleLazyObject

from accounts.selectors import active_membership, memberships_for


def teams(request):
    """The header's team picker: the user's teams and the active one (read only when shown)."""
    if not request.user.is_authenticated:
        return {}
    return {
        "active_membership": SimpleLazyObject(lambda: active_membership(request)),
        "my_memberships": SimpleLazyObject(lambda: list(memberships_for(user=request.user))),
    }
