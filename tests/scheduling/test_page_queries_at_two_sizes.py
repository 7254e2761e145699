"""Every main staff and portal page makes as many queries on a chain of 160 patients as on one of
40 (issue 15: the same at 1 000 and 100 000; benchmarks/bench_pages.py measures those sizes, this
pins it in the suite). The pages of one clinician of Riverside TMS and of one demo patient,
over seed_demo's data at both sizes."""

import datetime
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.models import Patient
from scheduling.models import Appointment, Clinic, FreedSlot, SlotOffer, WaitlistEntry

NOW = datetime.datetime(2026, 3, 11, 15, 0, tzinfo=datetime.UTC)  # a Wednesday, both clinics open


def pages():
    clinic = Clinic.objects.order_by("pk").first()
    today = clinic.today()
    patient = (Patient.objects.filter(home_clinic=clinic, status="active", maintenance_plans__status="active")
               .order_by("mrn").first())
    appointment = Appointment.objects.filter(patient=patient, status="completed").order_by("-starts_at").first()
    return {
        "day view": ("staff", reverse("staff:day", args=[today]) + f"?clinic={clinic.pk}"),
        "week view": ("staff", reverse("staff:week", args=[today]) + f"?clinic={clinic.pk}"),
        "patient list": ("staff", reverse("staff:patients")),
        "patient list, searched": ("staff", reverse("staff:patients") + f"?q={patient.last_name}"),
        "patient page": ("staff", reverse("staff:patient", args=[patient.uuid])),
        "appointment": ("staff", reverse("staff:appointment", args=[appointment.uuid])),
        "worklist": ("staff", reverse("staff:attention")),
        "outcomes report": ("staff", reverse("staff:outcomes-report")),
        "adherence dashboard": ("staff", reverse("staff:adherence")),
        "portal home": ("portal", reverse("portal:home")),
        "portal booking": ("portal", reverse("portal:book")),
        "portal PHQ-9": ("portal", reverse("portal:phq9")),
    }


def queries_of_every_page():
    staff, portal = Client(), Client()
    staff.force_login(get_user_model().objects.get(username="clinician"))
    portal.force_login(Patient.objects.filter(user__isnull=False).order_by("mrn").first().user)
    clients = {"staff": staff, "portal": portal}
    counts = {}
    for label, (who, url) in pages().items():
        clients[who].get(url)  # the session's first request sets things up
        with CaptureQueriesContext(connection) as queries:
            response = clients[who].get(url)
        assert response.status_code == 200, (label, response.status_code)
        counts[label] = len(queries)
    return counts


def seed(patients):
    call_command("seed_demo", patients=patients, clinics=2, stdout=StringIO())


def clear():
    """Back to an empty chain (clinics, chairs and staff stay, as seed_demo reuses them)."""
    portal_users = list(Patient.objects.exclude(user=None).values_list("user_id", flat=True))
    SlotOffer.objects.all().delete()
    FreedSlot.objects.all().delete()
    WaitlistEntry.objects.all().delete()
    Appointment.objects.all().delete()  # appointments protect their patients
    Patient.objects.all().delete()
    get_user_model().objects.filter(pk__in=portal_users).delete()


@pytest.mark.django_db
def test_every_main_page_makes_as_many_queries_for_160_patients_as_for_40():
    with time_machine.travel(NOW, tick=False):
        seed(40)
        small = queries_of_every_page()
        clear()
        seed(160)
        assert Patient.objects.count() == 160
        assert queries_of_every_page() == small
