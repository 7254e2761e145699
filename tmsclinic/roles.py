"""Who may do what: the one table of staff roles and the capabilities each holds.

Views, admin and services ask for a capability (``@staff_required(BOOK)``,
``may(user, FOLLOW_UP)``), never for a role: this module is the only place that names roles
for access, and README shows ``CAPABILITIES`` as a table. Roles are Django groups created by a
data migration (scheduling 0002). A patient's portal account belongs to no group, so it can
never pass ``staff_required``; portal views use ``patient_required``.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404

FRONT_DESK = "Front desk"
TECHNICIAN = "Technician"
CLINICIAN = "Clinician"
CLINIC_ADMIN = "Clinic admin"
STAFF_ROLES = (FRONT_DESK, TECHNICIAN, CLINICIAN, CLINIC_ADMIN)

# Capabilities: what a view or an action asks for.
SEE_PATIENTS = "see_patients"  # the day and week, appointments, the patient list and pages, the worklist
BOOK = "book"  # book, cancel and reschedule appointments
RUN_SESSIONS = "run_sessions"  # complete a session and write its record
CLINICAL_READ = "clinical_read"  # PHQ-9 scores and charts, course outcomes, flag details
RECORD_PHQ9 = "record_phq9"  # enter a PHQ-9 on a patient's behalf
CLINICAL_WRITE = "clinical_write"  # courses, maintenance plans, clinical flags, authorisation beyond the count
FOLLOW_UP = "follow_up"  # the worklist's outreach, snooze and resolve
EDIT_PATIENTS = "edit_patients"  # register and edit patients, invite them to the portal
READ_REPORTS = "read_reports"  # the clinic's outcomes report and its CSV
BILLING = "billing"  # courses' authorisations and the monthly billing export
CONFIGURE = "configure"  # clinics, chairs, protocols and templates in admin
BREAK_GLASS = "break_glass"  # open one patient of another clinic, with a written reason
MANAGE_STAFF = "manage_staff"  # the staff accounts of one's own clinics, in admin
READ_AUDIT = "read_audit"  # the audit trail of one's own clinics, in admin and as CSV
READ_ADHERENCE = "read_adherence"  # the adherence dashboard: each clinic's aggregate figures, no names

DESCRIPTIONS = {
    SEE_PATIENTS: "See the day and week, appointments, demographics and contact details, the worklist's "
                  "follow-up columns; check in; mark a no-show",
    BOOK: "Book, cancel and reschedule appointments",
    RUN_SESSIONS: "Complete a session, write its session record, read session records and motor thresholds",
    CLINICAL_READ: "See PHQ-9 scores and charts, course outcomes, flag details and who opened a record",
    RECORD_PHQ9: "Enter a PHQ-9 for a patient",
    CLINICAL_WRITE: "Start courses, start/pause/end maintenance plans, resolve safety and worsening flags, "
                    "approve sessions beyond the authorisation",
    FOLLOW_UP: "Log outreach, snooze and resolve follow-up flags",
    EDIT_PATIENTS: "Register and edit patients, invite them to the portal",
    READ_REPORTS: "Read the outcomes report and download its CSV",
    BILLING: "Record and extend courses' authorisations; download the monthly billing export (MRN, date of "
             "service, CPT code, authorisation, clinician, technician)",
    CONFIGURE: "Configure clinics, chairs, protocols and templates in admin",
    BREAK_GLASS: "Open one patient of another clinic for this session, after a written reason (audited, "
                 "the clinic admins are e-mailed)",
    MANAGE_STAFF: "Create, deactivate and assign roles and clinics to their own clinics' staff accounts in admin",
    READ_AUDIT: "Read and export the audit trail of their own clinics in admin",
    READ_ADHERENCE: "See the adherence dashboard: each clinic's aggregate figures and their CSVs, no patient's name",
}

# The policy. A superuser holds every capability.
# Least privilege: the front desk sees no clinical detail, the technician runs sessions, the
# clinician holds everything clinical, the clinic admin configures and manages staff but reads no
# patient's chart (a clinic admin who also treats holds the Clinician role as well).
CAPABILITIES = {
    FRONT_DESK: frozenset({SEE_PATIENTS, BOOK, FOLLOW_UP, EDIT_PATIENTS, BILLING}),
    TECHNICIAN: frozenset({SEE_PATIENTS, RUN_SESSIONS}),
    CLINICIAN: frozenset({SEE_PATIENTS, BOOK, RUN_SESSIONS, CLINICAL_READ, RECORD_PHQ9, CLINICAL_WRITE, FOLLOW_UP,
                          EDIT_PATIENTS, READ_REPORTS, BILLING, BREAK_GLASS, READ_ADHERENCE}),
    CLINIC_ADMIN: frozenset({CONFIGURE, MANAGE_STAFF, READ_AUDIT, READ_ADHERENCE}),
}
# A clinic may let its technicians enter PHQ-9s at the chair (TMS_TECHNICIANS_RECORD_PHQ9).
OPTIONAL = {TECHNICIAN: frozenset({RECORD_PHQ9})}
ALL_CAPABILITIES = frozenset(DESCRIPTIONS)


def roles_of(user):
    """The staff role names a user holds, cached on the user for the request."""
    if user is None or not user.is_authenticated:
        return frozenset()
    if not hasattr(user, "_staff_roles"):
        if user.is_superuser:
            user._staff_roles = frozenset(STAFF_ROLES)
        else:
            user._staff_roles = frozenset(
                user.groups.filter(name__in=STAFF_ROLES).values_list("name", flat=True)
            )
    return user._staff_roles


def capabilities_of(user):
    """Every capability the user's roles give them (all of them for a superuser)."""
    if user is not None and user.is_authenticated and user.is_superuser:
        return ALL_CAPABILITIES
    held = frozenset().union(*(CAPABILITIES[role] for role in roles_of(user)))
    if TECHNICIAN in roles_of(user) and getattr(settings, "TMS_TECHNICIANS_RECORD_PHQ9", False):
        held |= OPTIONAL[TECHNICIAN]
    return held


def clinics_of(user):
    """The ids of the clinics whose patients, days and reports the user may see: ``None`` for a
    superuser (every clinic), none at all for anyone who is not signed in. Cached on the user
    for the request."""
    if user is None or not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return None
    if not hasattr(user, "_clinic_ids"):
        user._clinic_ids = frozenset(user.clinic_memberships.values_list("clinic_id", flat=True))
    return user._clinic_ids


def may(user, capability):
    return capability in capabilities_of(user)


def is_staff_member(user):
    return bool(roles_of(user))


def staff_required(*capabilities):
    """Login required, then a staff role holding at least one of ``capabilities``; else 403.

    The wrapped view carries ``required_capabilities`` so a test can walk the URL map and see
    that every staff page asks for one."""
    if not capabilities or not set(capabilities) <= ALL_CAPABILITIES:
        raise ValueError(f"staff_required needs capabilities from tmsclinic.roles, not {capabilities!r}")

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            held = capabilities_of(request.user)
            if not held.intersection(capabilities):
                raise PermissionDenied("This page is for clinic staff.")
            return view(request, *args, **kwargs)

        wrapped.required_capabilities = frozenset(capabilities)
        return wrapped

    return decorator


def role_members(role):
    """The accounts holding a role: who is told (a clinician of a safety flag, the front desk
    of a portal change), not who may act."""
    return get_user_model().objects.filter(groups__name=role)


def refuse_another_patient(request, owner_pk):
    """A link that works without a login (it carries an unguessable key) opened while signed in
    as a different patient is a 404, as any other patient's data is."""
    patient = getattr(request.user, "patient", None) if request.user.is_authenticated else None
    if patient is not None and patient.pk != owner_pk:
        raise Http404("Not found.")


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

    wrapped.patient_only = True
    return wrapped
