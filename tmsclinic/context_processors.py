from .roles import roles_of


def roles(request):
    """Lets templates show navigation by role without querying themselves."""
    user = getattr(request, "user", None)
    held = roles_of(user) if user is not None else frozenset()
    return {"staff_roles": held, "is_staff_member": bool(held)}
