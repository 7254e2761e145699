from django.utils.functional import SimpleLazyObject

from .roles import ALL_CAPABILITIES, capabilities_of


def _attention_counts(user):
    # Imported here: tmsclinic never imports the apps' modules at module level.
    from scheduling.selectors import open_flag_counts

    return open_flag_counts(user)


def roles(request):
    """Lets templates show navigation and buttons by capability (``can.book``), and the
    worklist's counts, without querying themselves."""
    user = getattr(request, "user", None)
    held = capabilities_of(user)
    context = {
        "can": {capability: capability in held for capability in ALL_CAPABILITIES},
        "is_staff_member": bool(held),
    }
    if held:
        # Lazy: only a page that shows the navigation pays for the count, not an htmx fragment.
        context["attention_counts"] = SimpleLazyObject(lambda: _attention_counts(user))
    return context
