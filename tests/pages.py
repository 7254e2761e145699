"""The pages measured for issue 15 (benchmarks/bench_pages.py) and pinned by their queries at two
data sizes (tests/tmsclinic/test_page_queries.py): every staff and portal page a person reads, with
the URL it is read at in a world made by seed_demo.

Every staff and portal route is either a page here or named in NOT_PAGES with why, so a new route
cannot be forgotten (the test checks both lists against the URL map)."""

import dataclasses

from django.urls import reverse

# Staff pages, read by the demo clinician (home clinic: the first, "Riverside TMS", 8 chairs),
# who may open every one of them.
STAFF_PAGES = {
    "today": lambda w: reverse("staff:today"),
    "day": lambda w: reverse("staff:day", kwargs={"day": w.today}),
    "run-sheet": lambda w: reverse("staff:run-sheet", kwargs={"day": w.today}),
    "week": lambda w: reverse("staff:week", kwargs={"day": w.today}),
    "book": lambda w: reverse("staff:book"),
    "appointment": lambda w: reverse("staff:appointment", kwargs={"uuid": w.appointment.uuid}),
    "patients": lambda w: reverse("staff:patients"),
    # The list's own search, and the booking form's as-you-type search (htmx, see HTMX below).
    "patients?q": lambda w: reverse("staff:patients") + "?q=Maya",
    # A first name seed_demo gives many patients: a list of hits, not one hit's redirect.
    "patient-search": lambda w: reverse("staff:patient-search") + "?q=Maya",
    "patient": lambda w: reverse("staff:patient", kwargs={"uuid": w.patient.uuid}),
    "patient-edit": lambda w: reverse("staff:patient-edit", kwargs={"uuid": w.patient.uuid}),
    "phq9": lambda w: reverse("staff:phq9", kwargs={"uuid": w.patient.uuid}),
    "attention": lambda w: reverse("staff:attention"),
    "outcomes-report": lambda w: reverse("staff:outcomes-report"),
    "billing": lambda w: reverse("staff:billing"),
    "adherence": lambda w: reverse("staff:adherence"),
}
# Pages asked for by htmx (a fragment); as a page, the patient search redirects to the list's.
HTMX = {"staff:patient-search"}
# Portal pages, read by the demo patient whose maintenance is on time.
PORTAL_PAGES = {
    "home": lambda w: reverse("portal:home"),
    "book": lambda w: reverse("portal:book"),
    "phq9": lambda w: reverse("portal:phq9"),
    "preferences": lambda w: reverse("portal:preferences"),
    "waitlist": lambda w: reverse("portal:waitlist"),
    "appointment": lambda w: reverse("portal:appointment", kwargs={"uuid": w.portal_appointment.uuid}),
}
# The routes that are not pages to read: actions answering a POST, files, links with a key,
# the login and password pages.
NOT_PAGES = {
    "staff": {
        "appointment-action": "POST only",
        "patient-new": "a form, the same as patient-edit without a record",
        "break-glass": "POST only",
        "start-course": "a form behind a clinical decision",
        "plan-start": "a form",
        "invite": "POST only",
        "mt-recheck": "a form",
        "waitlist-add": "POST only",
        "waitlist-withdraw": "POST only",
        "plan-pause": "POST only",
        "plan-resume": "POST only",
        "plan-end": "POST only",
        "authorisation": "a form",
        "course-end": "a form",
        "attention-book": "POST only",
        "attention-outreach": "POST only",
        "attention-message": "POST only",
        "attention-snooze": "POST only",
        "attention-resolve": "POST only",
        "outcomes-csv": "a file (the outcomes report's CSV)",
    },
    "portal": {
        "login": "login", "logout": "logout", "password-reset": "password page",
        "password-reset-sent": "password page", "set-password": "password page",
        "book-slot": "one slot's confirmation, reached from the booking page",
        "cancel": "a form", "reschedule": "a form",
        "calendar-feed": "a file behind a key", "appointment-ics": "a file",
        "reminder-link": "a link with a key", "come-back": "a link with a key",
        "sms-inbound": "a webhook", "phq9-done": "a thank-you",
        "calendar-token": "POST only", "waitlist-withdraw": "POST only", "offer": "a link with a key",
    },
}


@dataclasses.dataclass
class World:
    """What the pages are read about in a seed_demo world."""

    clinic: object
    today: object
    clinician: object
    patient: object
    appointment: object
    portal_user: object
    portal_appointment: object


def demo_world():
    """The first clinic, its clinician, and the demo portal patient whose maintenance is on time
    (the first of seed_demo's portal logins): their record is the staff patient page, their
    latest appointment the staff and portal appointment pages."""
    from django.contrib.auth import get_user_model

    from patients.models import Patient
    from scheduling.management.commands.seed_demo import demo_portal_logins
    from scheduling.models import Appointment, Clinic

    clinic = Clinic.objects.order_by("pk").first()
    username = demo_portal_logins()[0][0]
    patient = Patient.objects.get(user__username=username)
    appointment = Appointment.objects.filter(patient=patient).order_by("-starts_at").first()
    return World(clinic=clinic, today=clinic.today(), clinician=get_user_model().objects.get(username="clinician"),
                 patient=patient, appointment=appointment, portal_user=patient.user,
                 portal_appointment=appointment)


def signed_in_clients(world):
    """(staff client, portal client), each logged in in-process. The second factor is off where
    these run (TMS_MFA_REQUIRED=false, as in the tests)."""
    from django.test import Client

    staff, portal = Client(), Client()
    staff.force_login(world.clinician)
    portal.force_login(world.portal_user)
    return staff, portal


def pages(world):
    """(label, audience, URL, request headers) of every page."""
    listed = ([(f"staff:{name}", "staff", url(world)) for name, url in STAFF_PAGES.items()]
              + [(f"portal:{name}", "portal", url(world)) for name, url in PORTAL_PAGES.items()])
    return [(label, audience, url, {"HTTP_HX_REQUEST": "true"} if label in HTMX else {})
            for label, audience, url in listed]
