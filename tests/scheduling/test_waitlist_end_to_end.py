"""A cancellation fills from the waitlist through a real Celery worker process: the cancellation's
commit enqueues the offer job, the worker offers the freed time to the two waiting patients by
SMS, the first opens the link and accepts, the second's link then says it has gone, and the
worker tells them so.

The worker runs on whatever broker the settings name: Redis when REDIS_URL is set, else the
embedded file-system broker (see tests/scheduling/test_reminders_end_to_end.py).
"""

import datetime
import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from patients.models import MaintenancePlan
from scheduling.models import Appointment, FreedSlot, SlotOffer, WaitlistEntry
from scheduling.services import book_appointment, cancel_appointment
from tests.conftest import needs
from tests.factories import (
    ChairFactory,
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    WaitlistEntryFactory,
)
from tests.scheduling.test_reminders_end_to_end import (
    broker_answers,
    sms_sent_to,
    start_worker,
    stop,
    wait_for,
    zone_where_it_is_midday,
)

FIRST, SECOND = "+12125550181", "+12125550182"


def waiting(clinic, protocol, phone, *, overdue_days, name):
    patient = PatientFactory(home_clinic=clinic, first_name=name, phone=phone, preferred_channel="sms",
                             sms_consent=True, email_consent=False)
    plan = MaintenancePlanFactory(patient=patient, protocol=protocol)
    MaintenancePhaseFactory(plan=plan)
    now = timezone.now()
    MaintenancePlan.objects.filter(pk=plan.pk).update(
        next_due_on=clinic.local(now).date() - datetime.timedelta(days=overdue_days),
        overdue_after=now - datetime.timedelta(hours=1))
    return WaitlistEntryFactory(patient=patient, clinic=clinic)


def link_path(message):
    return urlsplit(re.search(r"https?://\S+", message["body"]).group(0)).path


@pytest.mark.django_db(transaction=True)  # the worker reads what this test committed
def test_a_cancellation_is_offered_by_a_worker_and_the_first_to_accept_gets_it(tmp_path):
    needs(broker_answers(), f"needs the Celery broker at {settings.CELERY_BROKER_URL}")
    sms_file, log_path = tmp_path / "sms.jsonl", tmp_path / "worker.log"
    clinic = ClinicFactory(name="Harbour Light TMS", time_zone=zone_where_it_is_midday(timezone.now()))
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(0), closes_at=datetime.time(23, 59))
    chair = ChairFactory(clinic=clinic)
    protocol = ProtocolFactory(chair_minutes=45)
    first = waiting(clinic, protocol, FIRST, overdue_days=20, name="Fay")
    second = waiting(clinic, protocol, SECOND, overdue_days=5, name="Sid")
    starts_at = (timezone.now() + datetime.timedelta(hours=5)).replace(second=0, microsecond=0)
    starts_at += datetime.timedelta(minutes=-starts_at.minute % 15)
    appointment = book_appointment(patient=PatientFactory(home_clinic=clinic), chair=chair, starts_at=starts_at,
                                   kind=Appointment.Kind.CONSULT, booked_by=None,
                                   duration=datetime.timedelta(minutes=45))

    worker = start_worker(log_path, TMS_SMS_BACKEND="scheduling.sms.FileBackend", TMS_SMS_FILE_PATH=str(sms_file),
                          TMS_WAITLIST_BATCH="2", TMS_QUIET_HOURS="00:00-00:00")
    try:
        # The commit enqueues the offer job: no beat, no call from the test.
        cancel_appointment(appointment, by=None, reason="Cannot come")
        wait_for(lambda: sms_sent_to(sms_file, FIRST) and sms_sent_to(sms_file, SECOND), seconds=60,
                 what="the two offers", worker=worker, log_path=log_path)
        [offer_to_first] = sms_sent_to(sms_file, FIRST)
        [offer_to_second] = sms_sent_to(sms_file, SECOND)
        assert offer_to_first["body"].startswith("Harbour Light TMS: a time has come free")

        page = Client().get(link_path(offer_to_first))
        assert page.status_code == 200 and b"Yes, book this time for me" in page.content
        answer = Client().post(link_path(offer_to_first), {"action": "accept"})
        assert answer.status_code == 302
        [booked] = Appointment.objects.live().filter(chair=chair, starts_at=starts_at)
        assert booked.patient == first.patient and booked.kind == Appointment.Kind.MAINTENANCE

        gone = Client().get(link_path(offer_to_second))
        assert b"someone else took this time first" in gone.content
        assert Client().post(link_path(offer_to_second), {"action": "accept"}).status_code == 409
        # The accept's commit enqueues the job again, which tells the second patient.
        wait_for(lambda: len(sms_sent_to(sms_file, SECOND)) == 2, seconds=60, what="the 'taken' note",
                 worker=worker, log_path=log_path)
    finally:
        stop(worker)

    assert "has been taken" in sms_sent_to(sms_file, SECOND)[1]["body"]
    assert len(sms_sent_to(sms_file, FIRST)) == 1
    assert dict(SlotOffer.objects.values_list("patient__first_name", "status")) == {"Fay": "accepted", "Sid": "gone"}
    assert WaitlistEntry.objects.get(pk=first.pk).status == WaitlistEntry.Status.BOOKED
    assert WaitlistEntry.objects.get(pk=second.pk).status == WaitlistEntry.Status.WAITING
    assert FreedSlot.objects.get().status == FreedSlot.Status.FILLED
