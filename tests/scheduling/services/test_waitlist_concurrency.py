"""The waitlist under concurrency, on real PostgreSQL: workers running the offer job at once send
each offer once and never exceed a freed time's batch; sixteen patients accepting one freed time
at once make exactly one booking.

Each thread has its own database connection; a barrier releases them together.
"""

import collections
import datetime
import threading

import pytest
import time_machine
from django.core import mail
from django.db import connections

from patients.models import MaintenancePlan
from scheduling import sms
from scheduling.models import Appointment, FreedSlot, SlotOffer, WaitlistEntry
from scheduling.services import book_appointment, cancel_appointment, waitlist
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

pytestmark = pytest.mark.usefixtures("on_postgres")
UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York
FIRST_SLOT = datetime.datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


@pytest.fixture
def world(transactional_db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TMS_SMS_BACKEND = "scheduling.sms.InMemoryBackend"
    sms.outbox.clear()
    with time_machine.travel(NOW, tick=False):
        clinic = ClinicFactory(time_zone="America/New_York")
        for weekday in range(7):
            OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8),
                                closes_at=datetime.time(18))
        protocol = ProtocolFactory(chair_minutes=45)
        yield clinic, protocol
    sms.outbox.clear()


def wait(clinic, protocol, n):
    patient = PatientFactory(home_clinic=clinic, first_name=f"W{n}", email_consent=True)
    plan = MaintenancePlanFactory(patient=patient, protocol=protocol)
    MaintenancePhaseFactory(plan=plan)
    MaintenancePlan.objects.filter(pk=plan.pk).update(next_due_on=datetime.date(2026, 11, 1) + datetime.timedelta(
        days=n % 5), overdue_after=NOW - datetime.timedelta(days=1))
    return WaitlistEntryFactory(patient=patient, clinic=clinic, created_at=NOW - datetime.timedelta(days=n))


def free(chair, starts_at):
    appointment = book_appointment(patient=PatientFactory(home_clinic=chair.clinic), chair=chair, starts_at=starts_at,
                                   kind=Appointment.Kind.CONSULT, booked_by=None,
                                   duration=datetime.timedelta(minutes=45))
    cancel_appointment(appointment, by=None)


def together(count, work):
    """``work(i)`` in ``count`` threads released at once, at NOW (time-machine's travel is the
    whole process's, so it is entered once, here); (results, errors)."""
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run(i):
        try:
            barrier.wait()
            results.append(work(i))
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    with time_machine.travel(NOW, tick=False):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    return results, errors


def test_four_workers_at_once_then_another_send_each_offer_once(world, settings):
    clinic, protocol = world
    settings.TMS_WAITLIST_BATCH = 2
    chairs = [ChairFactory(clinic=clinic, name=f"Chair {n}") for n in range(3)]
    with time_machine.travel(NOW, tick=False):
        for n in range(30):
            wait(clinic, protocol, n)
        for hour in range(4):
            for chair in chairs:
                free(chair, FIRST_SLOT + datetime.timedelta(hours=hour))
    results, errors = together(4, lambda i: waitlist.offer_freed_slots())
    assert errors == []
    with time_machine.travel(NOW, tick=False):
        assert waitlist.offer_freed_slots().get("sent", 0) == 0
    offers = list(SlotOffer.objects.all())
    assert sum(r.get("sent", 0) for r in results) == len(offers) == 12 * 2
    assert {o.status for o in offers} == {SlotOffer.Status.OPEN}
    assert collections.Counter(o.freed_slot_id for o in offers) == {f.pk: 2 for f in FreedSlot.objects.all()}
    # One message per offer, each to its patient.
    assert collections.Counter(m.to[0] for m in mail.outbox) == collections.Counter(o.patient.email for o in offers)
    assert {o.attempts for o in offers} == {1}


def test_sixteen_patients_accepting_one_time_at_once_make_one_booking(world, settings):
    clinic, protocol = world
    settings.TMS_WAITLIST_BATCH = 16
    chair = ChairFactory(clinic=clinic)
    with time_machine.travel(NOW, tick=False):
        for n in range(16):
            wait(clinic, protocol, n)
        free(chair, FIRST_SLOT)
        waitlist.offer_freed_slots()
    offers = list(SlotOffer.objects.order_by("pk"))
    assert len(offers) == 16 and {o.status for o in offers} == {SlotOffer.Status.OPEN}
    results, errors = together(16, lambda i: waitlist.accept(offers[i])[0])
    assert errors == []
    assert collections.Counter(results)[waitlist.BOOKED] == 1
    assert set(results) <= {waitlist.BOOKED, waitlist.TAKEN, waitlist.CLOSED}
    [booked] = Appointment.objects.live().filter(chair=chair, starts_at=FIRST_SLOT)
    statuses = collections.Counter(SlotOffer.objects.values_list("status", flat=True))
    assert statuses == {SlotOffer.Status.ACCEPTED: 1, SlotOffer.Status.GONE: 15}
    assert SlotOffer.objects.get(status=SlotOffer.Status.ACCEPTED).appointment == booked
    assert list(WaitlistEntry.objects.filter(status=WaitlistEntry.Status.BOOKED).values_list("patient", flat=True)) == [
        booked.patient_id]
