from django.utils.functional import SimpleLazyObject

from .roles import roles_of


def _attention_counts():
    # Imported here: tmsclinic never imports the apps' models at module level.
    from scheduling.attention import open_flag_counts

    return open_flag_counts()


def roles(request):
    """Lets templates show navigation by role, and the worklist's counts, without querying
    themselves."""
    user = getattr(request, "user", None)
    held = roles_of(user) if user is not None else frozenset()
    context = {"staff_roles": held, "is_staff_member": bool(held)}
    if held:
        # Lazy: only a page that shows the navigation pays for the count, not an htmx fragment.
        context["attention_counts"] = SimpleLazyObject(_attention_counts)
    return context
