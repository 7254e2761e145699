"""Staff roles and the helpers every app uses to gate views by them.

Roles are Django groups created by a data migration (scheduling 0002). A patient's portal
account belongs to no group, so it can never pass ``staff_required``.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404

FRONT_DESK = "Front desk"
TECHNICIAN = "Technician"
CLINICIAN = "Clinician"
CLINIC_ADMIN = "Clinic admin"
STAFF_ROLES = (FRONT_DESK, TECHNICIAN, CLINICIAN, CLINIC_ADMIN)


def roles_of(user):
    """The staff role names a user holds, cached on the user for the request."""
    if not user.is_authenticated:
        return frozenset()
    if not hasattr(user, "_staff_roles"):
        if user.is_superuser:
            user._staff_roles = frozenset(STAFF_ROLES)
        else:
            user._staff_roles = frozenset(
                user.groups.filter(name__in=STAFF_ROLES).values_list("name", flat=True)
            )
    return user._staff_roles


def is_staff_member(user):
    return bool(roles_of(user))


def staff_required(*roles):
    """Login required, then any staff role (or one of ``roles`` when given); else 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            held = roles_of(request.user)
            if not held or (roles and not held.intersection(roles)):
                raise PermissionDenied("This page is for clinic staff.")
            return view(request, *args, **kwargs)

        return wrapped

    # Allow both @staff_required and @staff_required(CLINICIAN).
    if len(roles) == 1 and callable(roles[0]):
        view, roles = roles[0], ()
        return decorator(view)
    return decorator


def patient_required(view):
    """Portal views: the account must be an active patient's own. ``request.patient`` is set.

    Anyone else who is logged in (staff included) gets a 404: the portal never tells an
    outsider what exists. Views then look up everything through ``request.patient``.
    """

    @wraps(view)
    @login_required(login_url="portal:login")
    def wrapped(request, *args, **kwargs):
        try:
            patient = request.user.patient
        except ObjectDoesNotExist:
            raise Http404("No patient record for this account.") from None
        if patient.status != "active":
            raise Http404("This record is closed.")
        request.patient = patient
        return view(request, *args, **kwargs)

    return wrapped
