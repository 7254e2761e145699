"""Every main staff and portal page on seed_demo's chain at 1 000 patients and at 100 000
(BENCH_PATIENTS changes the big size): its queries at both sizes (they must be equal), its HTML
size (goal: 150 KB at most) and its median server time (Django's test client, in process,
through every middleware) as a ratio to /healthz — one query — measured in the same run (goal:
4x at most). The staff pages as the demo clinician of Riverside TMS, the chain's 8-chair clinic;
the portal pages as a demo patient."""

import datetime
import io
import os
import statistics
import time

os.environ.setdefault("TMS_MFA_REQUIRED", "false")  # the test client signs in without an authenticator
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

from harness import throwaway_database  # noqa: E402

SMALL = 1000
BIG = int(os.environ.get("BENCH_PATIENTS", "100000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "15"))
KB_GOAL, RATIO_GOAL = 150, 4


def pages():
    """(label, signed in as "staff" or "portal", URL) for each page, on the seeded data."""
    from django.urls import reverse

    from patients.models import Patient
    from scheduling.models import Appointment, Clinic

    clinic = Clinic.objects.order_by("pk").first()
    today = clinic.today()
    # The patient with the longest history at the first clinic, still coming.
    patient = (Patient.objects.filter(home_clinic=clinic, status="active", maintenance_plans__status="active")
               .order_by("mrn").first())
    appointment = Appointment.objects.filter(patient=patient, status="completed").order_by("-starts_at").first()
    return [
        ("day view (8 chairs)", "staff", reverse("staff:day", args=[today]) + f"?clinic={clinic.pk}"),
        ("week view", "staff", reverse("staff:week", args=[today]) + f"?clinic={clinic.pk}"),
        ("patient list", "staff", reverse("staff:patients")),
        ("patient search", "staff", reverse("staff:patients") + f"?q={patient.last_name}"),
        ("patient page", "staff", reverse("staff:patient", args=[patient.uuid])),
        ("appointment", "staff", reverse("staff:appointment", args=[appointment.uuid])),
        ("worklist", "staff", reverse("staff:attention")),
        ("outcomes report", "staff", reverse("staff:outcomes-report")),
        ("adherence dashboard", "staff", reverse("staff:adherence")),
        ("portal home", "portal", reverse("portal:home")),
        ("portal booking", "portal", reverse("portal:book")),
        ("portal PHQ-9", "portal", reverse("portal:phq9")),
    ]


def measure(size):
    """{label: (queries, bytes, median seconds, status)} and /healthz's median, on a chain of ``size``."""
    with throwaway_database():
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client, override_settings
        from django.test.utils import CaptureQueriesContext

        from patients.models import Patient

        call_command("seed_demo", patients=size, seed=1, verbosity=0, stdout=io.StringIO())
        staff, portal = Client(), Client()
        staff.force_login(get_user_model().objects.get(username="clinician"))
        portal.force_login(Patient.objects.filter(user__isnull=False).order_by("mrn").first().user)
        clients = {"staff": staff, "portal": portal}

        def median(client, url):
            timings = []
            for _ in range(REPEAT):
                started = time.perf_counter()
                client.get(url, secure=True)
                timings.append(time.perf_counter() - started)
            return statistics.median(timings)

        results = {}
        storage = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                   "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
        with override_settings(STORAGES=storage):
            floor = median(staff, "/healthz")
            for label, who, url in pages():
                client = clients[who]
                client.get(url, secure=True)  # warm: compiled templates, kept charts
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(url, secure=True)
                results[label] = (len(queries), len(response.content), median(client, url), response.status_code)
        return results, floor


def main():
    small, small_floor = measure(SMALL)
    big, floor = measure(BIG)
    from django.db import connection

    print(f"\nPages at {SMALL} and {BIG} patients  [{connection.vendor}]  "
          f"(/healthz, one query: {small_floor * 1000:.1f} / {floor * 1000:.1f} ms; {datetime.date.today()})")
    print(f"  {'page':<22} {'queries':>13} {'KB':>7} {'ms':>8} {'ratio':>7}  goals: same queries, "
          f"≤ {KB_GOAL} KB, ≤ {RATIO_GOAL}x")
    for label, (queries, size, seconds, status) in big.items():
        small_queries = small[label][0]
        flags = [f"HTTP {status}"] if status != 200 else []
        if small_queries != queries:
            flags.append("queries grow")
        if size > KB_GOAL * 1024:
            flags.append("over size")
        if seconds / floor > RATIO_GOAL:
            flags.append("over ratio")
        print(f"  {label:<22} {small_queries:>5} / {queries:<5} {size / 1024:>7.1f} {seconds * 1000:>8.1f} "
              f"{seconds / floor:>6.1f}x  {', '.join(flags)}")


if __name__ == "__main__":
    main()
