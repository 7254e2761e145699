"""The waitlist: freed chair time offered in order (most overdue first, then the oldest wish),
one hold at a time, within the notice and outside quiet hours, to consenting patients, exactly
once; and what an accept, a decline and a late answer do."""

import datetime
import random

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from patients.models import MaintenancePlan
from scheduling import sms
from scheduling.models import Appointment, FreedSlot, SlotOffer, WaitlistEntry
from scheduling.services import book_appointment, cancel_appointment, reschedule_appointment, waitlist
from tests.factories import (
    ChairFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    PatientFactory,
    ProtocolFactory,
    WaitlistEntryFactory,
)

UTC = datetime.UTC
# Wednesday 2 December 2026, 08:00 in New York (the end of quiet hours).
NOW = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
# Thursday 3 December, 10:00 in New York: the time that comes free.
SLOT = datetime.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _messages(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TMS_SMS_BACKEND = "scheduling.sms.InMemoryBackend"
    settings.TMS_WAITLIST_BATCH = 1
    settings.TMS_WAITLIST_HOLD_MINUTES = 30
    settings.TMS_WAITLIST_NOTICE_HOURS = 3
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def clinic(open_clinic):
    return open_clinic


@pytest.fixture
def protocol(db):
    return ProtocolFactory(chair_minutes=45)


def waiting(clinic, name, *, overdue_days=0, age_days=1, channel="email", now=NOW, **wish):
    """A maintenance patient on the waitlist: ``overdue_days`` past their due date once their
    grace has run out (0: not overdue), their wish made ``age_days`` ago."""
    patient = PatientFactory(home_clinic=clinic, first_name=name, phone=f"+1212555{random.randint(1000, 9999)}",
                             email_consent=channel == "email", sms_consent=channel == "sms",
                             preferred_channel=channel)
    plan = MaintenancePlanFactory(patient=patient, protocol=ProtocolFactory(chair_minutes=45))
    MaintenancePhaseFactory(plan=plan)
    today = clinic.local(now).date()
    if overdue_days:
        MaintenancePlan.objects.filter(pk=plan.pk).update(
            next_due_on=today - datetime.timedelta(days=overdue_days), overdue_after=now - datetime.timedelta(hours=1))
    else:
        MaintenancePlan.objects.filter(pk=plan.pk).update(
            next_due_on=today + datetime.timedelta(days=20), overdue_after=now + datetime.timedelta(days=27))
    return WaitlistEntryFactory(patient=patient, clinic=clinic, created_at=now - datetime.timedelta(days=age_days),
                                **wish)


def free_up(chair, starts_at=SLOT):
    """Book someone at ``starts_at`` on ``chair`` and cancel it: the time comes free."""
    other = PatientFactory(home_clinic=chair.clinic, first_name="Canceller")
    appointment = book_appointment(patient=other, chair=chair, starts_at=starts_at, kind=Appointment.Kind.CONSULT,
                                   booked_by=None, duration=datetime.timedelta(minutes=45))
    cancel_appointment(appointment, by=None, reason="Cannot come")
    return FreedSlot.objects.get(chair=chair, starts_at=starts_at)


def offered():
    """Patients' first names, in the order their offers were made."""
    return list(SlotOffer.objects.order_by("pk").values_list("patient__first_name", flat=True))


def deliveries():
    return [m.to[0] for m in mail.outbox] + [t["to"] for t in sms.outbox]


def open_offer():
    return SlotOffer.objects.get(status=SlotOffer.Status.OPEN)


# --- Freed time is recorded --------------------------------------------------------------------


def test_a_cancellation_and_a_move_each_record_the_time_they_free(frozen, clinic, chair):
    freed = free_up(chair)
    assert (freed.reason, freed.status, freed.ends_at) == ("cancelled", "open", SLOT + datetime.timedelta(minutes=45))
    patient = PatientFactory(home_clinic=clinic)
    later = SLOT + datetime.timedelta(hours=3)
    appointment = book_appointment(patient=patient, chair=chair, starts_at=later, kind=Appointment.Kind.CONSULT,
                                   booked_by=None)
    reschedule_appointment(appointment, chair=chair, starts_at=later + datetime.timedelta(hours=2), by=None)
    assert FreedSlot.objects.get(starts_at=later).reason == FreedSlot.Reason.MOVED


def test_a_chair_back_in_service_frees_its_opening_hours_ahead(frozen, clinic, settings):
    settings.TMS_WAITLIST_CHAIR_BACK_DAYS = 2
    chair = ChairFactory(clinic=clinic, active=False)
    chair.save()
    assert not FreedSlot.objects.exists()
    chair.active = True
    chair.save()
    rows = list(FreedSlot.objects.filter(chair=chair).order_by("starts_at"))
    # Today from now (08:00, opening time) and the next two days, 08:00-18:00 New York time.
    assert [(clinic.local(r.starts_at).strftime("%d %H:%M"), clinic.local(r.ends_at).strftime("%H:%M"))
            for r in rows] == [("02 08:00", "18:00"), ("03 08:00", "18:00"), ("04 08:00", "18:00")]
    assert {r.reason for r in rows} == {FreedSlot.Reason.CHAIR_BACK}
    chair.save()  # still in service: nothing more
    assert FreedSlot.objects.count() == 3


def test_a_past_appointment_frees_nothing(frozen, chair):
    appointment = book_appointment(patient=PatientFactory(home_clinic=chair.clinic), chair=chair,
                                   starts_at=NOW + datetime.timedelta(minutes=30), kind=Appointment.Kind.CONSULT,
                                   booked_by=None)
    frozen.move_to(NOW + datetime.timedelta(hours=2))
    Appointment.objects.filter(pk=appointment.pk).update(status=Appointment.Status.BOOKED)
    cancel_appointment(appointment, by=None)
    assert not FreedSlot.objects.exists()


# --- Order -------------------------------------------------------------------------------------


def test_offers_go_most_overdue_first_then_oldest_wish_first(frozen, clinic, chair, settings):
    rng = random.Random(14)
    people = []
    for n in range(8):
        overdue = rng.choice([0, 0, 3, 10, 10, 40])
        age = rng.randint(1, 60)
        people.append((f"P{n}", overdue, age))
        waiting(clinic, f"P{n}", overdue_days=overdue, age_days=age)
    # Independently: overdue days largest first, then the wish's age, oldest first.
    expected = [name for name, overdue, age in sorted(people, key=lambda p: (-p[1], -p[2]))]
    free_up(chair)
    for _ in people:
        waitlist.offer_freed_slots()
        waitlist.decline(open_offer())
    waitlist.offer_freed_slots()
    assert offered() == expected
    assert len(mail.outbox) == len(people)
    assert FreedSlot.objects.get().status == FreedSlot.Status.UNFILLED


def test_a_batch_is_offered_at_once_in_order(frozen, clinic, chair, settings):
    settings.TMS_WAITLIST_BATCH = 2
    waiting(clinic, "Young", age_days=1)
    waiting(clinic, "Old", age_days=30)
    waiting(clinic, "Overdue", overdue_days=5, age_days=1)
    free_up(chair)
    assert waitlist.offer_freed_slots()["sent"] == 2
    assert offered() == ["Overdue", "Old"]


# --- Holds ---------------------------------------------------------------------------------------


def test_a_hold_expires_and_the_next_candidate_is_offered(frozen, clinic, chair):
    waiting(clinic, "First", age_days=9)
    waiting(clinic, "Second", age_days=2)
    free_up(chair)
    waitlist.offer_freed_slots()
    first = open_offer()
    assert first.expires_at == NOW + datetime.timedelta(minutes=30)
    frozen.move_to(NOW + datetime.timedelta(minutes=29))
    waitlist.offer_freed_slots()
    assert offered() == ["First"]
    frozen.move_to(NOW + datetime.timedelta(minutes=30))
    counts = waitlist.offer_freed_slots()
    assert counts["expired"] == 1 and counts["sent"] == 1
    first.refresh_from_db()
    assert first.status == SlotOffer.Status.EXPIRED
    assert offered() == ["First", "Second"]
    assert waitlist.accept(first)[0] == waitlist.CLOSED


def test_a_decline_moves_on_to_the_next(frozen, clinic, chair):
    waiting(clinic, "First", age_days=9)
    waiting(clinic, "Second", age_days=2)
    free_up(chair)
    waitlist.offer_freed_slots()
    assert waitlist.decline(open_offer())
    waitlist.offer_freed_slots()
    assert offered() == ["First", "Second"]
    assert open_offer().patient.first_name == "Second"


def test_no_offer_for_a_time_within_the_notice(frozen, clinic, chair):
    waiting(clinic, "Ann")
    soon = NOW + datetime.timedelta(hours=2, minutes=45)
    free_up(chair, starts_at=soon)
    free_up(chair, starts_at=NOW + datetime.timedelta(hours=3))  # exactly the notice: may be offered
    waitlist.offer_freed_slots()
    assert list(SlotOffer.objects.values_list("starts_at", flat=True)) == [NOW + datetime.timedelta(hours=3)]
    assert FreedSlot.objects.get(starts_at=soon).status == FreedSlot.Status.UNFILLED


def test_an_offer_that_falls_within_the_notice_before_it_is_sent_is_not_sent(frozen, clinic, chair):
    waiting(clinic, "Ann")
    free_up(chair, starts_at=NOW + datetime.timedelta(hours=4))
    with time_machine.travel(NOW, tick=False):
        freed = FreedSlot.objects.get()
        offer = SlotOffer.objects.create(entry=WaitlistEntry.objects.get(), patient=WaitlistEntry.objects.get().patient,
                                         clinic=clinic, chair=chair, starts_at=freed.starts_at, ends_at=freed.ends_at,
                                         channel="email", freed_slot=freed)
    frozen.move_to(NOW + datetime.timedelta(hours=1, minutes=1))
    waitlist.offer_freed_slots()
    offer.refresh_from_db()
    assert offer.status == SlotOffer.Status.SKIPPED and "within 3 hours" in offer.last_error
    assert mail.outbox == []


# --- Quiet hours ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("evening", "slot"), [
    # A Wednesday night: the offer waits for 08:00 on Thursday.
    (datetime.datetime(2026, 12, 2, 22, 30), datetime.datetime(2026, 12, 3, 14, 0)),
    # The night the clocks go back (1 November 2026 in New York): the morning is 08:00 EST.
    (datetime.datetime(2026, 10, 31, 22, 30), datetime.datetime(2026, 11, 1, 14, 0)),
    # The night the clocks go forward (8 March 2026): 08:00 EDT.
    (datetime.datetime(2026, 3, 7, 22, 30), datetime.datetime(2026, 3, 8, 14, 0)),
])
def test_quiet_hours_hold_the_offer_until_the_morning(clinic, chair, evening, slot):
    tz = clinic.tz
    evening, slot = evening.replace(tzinfo=tz), slot.replace(tzinfo=tz)
    with time_machine.travel(evening - datetime.timedelta(hours=1), tick=False) as traveller:
        waiting(clinic, "Ann", now=evening - datetime.timedelta(hours=1))
        free_up(chair, starts_at=slot)
        traveller.move_to(evening)
        waitlist.offer_freed_slots()
        assert not SlotOffer.objects.exists()
        morning = datetime.datetime.combine(slot.date(), datetime.time(8), tzinfo=tz)
        assert FreedSlot.objects.get().look_at == morning
        traveller.move_to(morning - datetime.timedelta(minutes=1))
        waitlist.offer_freed_slots()
        assert not SlotOffer.objects.exists() and mail.outbox == []
        traveller.move_to(morning)
        waitlist.offer_freed_slots()
        assert open_offer().sent_at == morning
        assert len(mail.outbox) == 1


def test_a_time_too_soon_after_quiet_hours_is_not_offered_at_all(clinic, chair):
    tz = clinic.tz
    evening = datetime.datetime(2026, 12, 2, 22, 30, tzinfo=tz)
    with time_machine.travel(evening, tick=False):
        waiting(clinic, "Ann", now=evening)
        # 10:00 is within three hours of 08:00, when quiet hours end.
        free_up(chair, starts_at=datetime.datetime(2026, 12, 3, 10, 0, tzinfo=tz))
        waitlist.offer_freed_slots()
    freed = FreedSlot.objects.get()
    assert not SlotOffer.objects.exists()
    assert freed.status == FreedSlot.Status.UNFILLED and "Quiet hours" in freed.note


# --- Consent, opt-out, the wish itself -----------------------------------------------------------------


def test_consent_withdrawn_after_the_offer_was_made_skips_it_and_moves_on(frozen, clinic, chair, monkeypatch):
    first = waiting(clinic, "First", age_days=9)
    waiting(clinic, "Second", age_days=2)
    free_up(chair)
    # The offer row is written, then consent goes before it is sent (another request, mid-run).
    real = waitlist._send_pending
    calls = []

    def withdraw_then_send(now, counts):
        if not calls:
            first.patient.email_consent = False
            first.patient.save()
        calls.append(1)
        return real(now, counts)

    monkeypatch.setattr(waitlist, "_send_pending", withdraw_then_send)
    counts = waitlist.offer_freed_slots()
    assert counts["skipped"] == 1 and counts["sent"] == 1
    assert dict(SlotOffer.objects.values_list("patient__first_name", "status")) == {
        "First": SlotOffer.Status.SKIPPED, "Second": SlotOffer.Status.OPEN}
    assert deliveries() == [WaitlistEntry.objects.get(patient__first_name="Second").patient.email]


def test_no_consent_opted_out_or_discharged_patients_are_not_candidates(frozen, clinic, chair):
    waiting(clinic, "NoConsent").patient.__class__.objects.filter(first_name="NoConsent").update(email_consent=False)
    waiting(clinic, "OptedOut").patient.__class__.objects.filter(first_name="OptedOut").update(outreach_opt_out_at=NOW)
    waiting(clinic, "Discharged").patient.__class__.objects.filter(first_name="Discharged").update(status="discharged")
    waiting(clinic, "Sms", channel="sms")
    free_up(chair)
    waitlist.offer_freed_slots()
    assert offered() == ["Sms"]
    assert len(sms.outbox) == 1 and "come free" in sms.outbox[0]["body"]


@pytest.mark.parametrize(("wish", "fits"), [
    ({"weekdays": "3"}, True),  # Thursday
    ({"weekdays": "04"}, False),
    ({"earliest_time": datetime.time(10)}, True),
    ({"earliest_time": datetime.time(10, 15)}, False),
    ({"latest_time": datetime.time(10)}, True),
    ({"latest_time": datetime.time(9, 45)}, False),
    ({"from_date": datetime.date(2026, 12, 3), "until_date": datetime.date(2026, 12, 3)}, True),
    ({"from_date": datetime.date(2026, 12, 4)}, False),
    ({"until_date": datetime.date(2026, 12, 2)}, False),
])
def test_only_a_wish_the_time_suits_is_offered_it(frozen, clinic, chair, wish, fits):
    waiting(clinic, "Ann", **wish)
    free_up(chair)
    waitlist.offer_freed_slots()
    assert offered() == (["Ann"] if fits else [])


def test_a_session_longer_than_the_freed_time_is_not_offered_it(frozen, clinic, chair):
    entry = waiting(clinic, "Long")
    entry.patient.maintenance_plans.get().protocol.__class__.objects.filter(
        plans__patient=entry.patient).update(chair_minutes=60)
    # The next 15 minutes are booked: 45 minutes free, a 60-minute session does not fit.
    book_appointment(patient=PatientFactory(home_clinic=clinic), chair=chair,
                     starts_at=SLOT + datetime.timedelta(minutes=45), kind=Appointment.Kind.CONSULT, booked_by=None)
    free_up(chair)
    waitlist.offer_freed_slots()
    assert offered() == []


def test_a_patient_with_a_session_that_day_or_a_wish_for_sooner_than_the_slot_is_passed_over(frozen, clinic, chair):
    busy = waiting(clinic, "Busy", age_days=30)
    book_appointment(patient=busy.patient, chair=ChairFactory(clinic=clinic), starts_at=SLOT + datetime.timedelta(
        hours=4), kind=Appointment.Kind.MAINTENANCE, booked_by=None, plan=busy.patient.maintenance_plans.get())
    sooner = waiting(clinic, "Sooner", age_days=20)
    visit = book_appointment(patient=sooner.patient, chair=ChairFactory(clinic=clinic),
                             starts_at=SLOT - datetime.timedelta(hours=20), kind=Appointment.Kind.MAINTENANCE,
                             booked_by=None, plan=sooner.patient.maintenance_plans.get())
    WaitlistEntry.objects.filter(pk=sooner.pk).update(earlier_than=visit)
    waiting(clinic, "Free", age_days=1)
    free_up(chair)
    waitlist.offer_freed_slots()
    assert offered() == ["Free"]


# --- Exactly once --------------------------------------------------------------------------------


def test_running_the_job_again_sends_nothing_twice(frozen, clinic, chair):
    waiting(clinic, "Ann")
    free_up(chair)
    first = waitlist.offer_freed_slots()
    again = waitlist.offer_freed_slots()
    assert first["sent"] == 1 and again.get("sent", 0) == 0
    assert len(mail.outbox) == 1
    assert SlotOffer.objects.get().attempts == 1


# --- Accepting -----------------------------------------------------------------------------------------


def test_more_held_times_than_a_run_looks_at_do_not_keep_the_next_ones_waiting(frozen, clinic, chair, monkeypatch):
    # A run looks at so many freed times; those already held by their offers are not among them,
    # or they would fill every run until their holds ran out.
    monkeypatch.setattr(waitlist, "ROWS_PER_RUN", 2)
    waiting(clinic, "Ada")
    times = [free_up(chair, SLOT + datetime.timedelta(hours=hours)) for hours in (0, 1, 2, 3, 4)]
    assert waitlist.offer_freed_slots()["sent"] == 2
    assert waitlist.offer_freed_slots()["sent"] == 2
    assert waitlist.offer_freed_slots()["sent"] == 1
    assert sorted(SlotOffer.objects.filter(status=SlotOffer.Status.OPEN).values_list("freed_slot", flat=True)) == [
        freed.pk for freed in times]
    assert "sent" not in waitlist.offer_freed_slots()


def test_accepting_books_the_time_and_the_others_are_told_it_has_gone(frozen, clinic, chair, settings):
    settings.TMS_WAITLIST_BATCH = 3
    winner = waiting(clinic, "Winner", age_days=9)
    waiting(clinic, "Late", age_days=5)
    waiting(clinic, "Later", age_days=2, channel="sms")
    freed = free_up(chair)
    waitlist.offer_freed_slots()
    offers = {o.patient.first_name: o for o in SlotOffer.objects.select_related("patient")}
    outcome, appointment = waitlist.accept(offers["Winner"])
    assert outcome == waitlist.BOOKED
    assert (appointment.patient, appointment.chair, appointment.starts_at, appointment.kind, appointment.plan) == (
        winner.patient, chair, SLOT, Appointment.Kind.MAINTENANCE, winner.patient.maintenance_plans.get())
    assert appointment.booked_via == Appointment.Via.PORTAL
    winner.refresh_from_db()
    freed.refresh_from_db()
    assert winner.status == WaitlistEntry.Status.BOOKED and freed.status == FreedSlot.Status.FILLED
    assert dict(SlotOffer.objects.values_list("patient__first_name", "status")) == {
        "Winner": "accepted", "Late": "gone", "Later": "gone"}
    mail.outbox.clear()
    sms.outbox.clear()
    assert waitlist.offer_freed_slots()["told_gone"] == 2
    assert len(mail.outbox) == 1 and "has been taken" in mail.outbox[0].body
    assert len(sms.outbox) == 1 and "has been taken" in sms.outbox[0]["body"]
    assert waitlist.offer_freed_slots().get("told_gone", 0) == 0
    # Late answers change nothing.
    assert waitlist.accept(offers["Late"])[0] == waitlist.CLOSED
    assert waitlist.accept(offers["Winner"])[0] == waitlist.CLOSED
    assert Appointment.objects.live().filter(chair=chair, starts_at=SLOT).count() == 1


def test_an_earlier_than_wish_moves_the_visit_and_its_old_time_is_offered_in_turn(frozen, clinic, chair):
    entry = waiting(clinic, "Mover")
    later = SLOT + datetime.timedelta(days=5)
    visit = book_appointment(patient=entry.patient, chair=chair, starts_at=later, kind=Appointment.Kind.MAINTENANCE,
                             booked_by=None, plan=entry.patient.maintenance_plans.get())
    WaitlistEntry.objects.filter(pk=entry.pk).update(earlier_than=visit)
    waiting(clinic, "Next", age_days=0)
    free_up(chair)
    waitlist.offer_freed_slots()
    outcome, moved = waitlist.accept(open_offer())
    assert outcome == waitlist.BOOKED and moved.starts_at == SLOT
    visit.refresh_from_db()
    assert visit.status == Appointment.Status.CANCELLED and visit.cancel_reason == "Rescheduled"
    assert list(Appointment.objects.live().filter(patient=entry.patient).values_list("starts_at", flat=True)) == [SLOT]
    # The old time came free, and goes to the next patient waiting.
    assert FreedSlot.objects.get(starts_at=later).reason == FreedSlot.Reason.MOVED
    waitlist.offer_freed_slots()
    assert SlotOffer.objects.get(status=SlotOffer.Status.OPEN).patient.first_name == "Next"


def test_a_time_booked_meanwhile_is_taken_and_nothing_is_booked(frozen, clinic, chair):
    waiting(clinic, "Ann")
    free_up(chair)
    waitlist.offer_freed_slots()
    offer = open_offer()
    book_appointment(patient=PatientFactory(home_clinic=clinic), chair=chair, starts_at=SLOT,
                     kind=Appointment.Kind.CONSULT, booked_by=None)
    assert waitlist.accept(offer) == (waitlist.TAKEN, None)
    offer.refresh_from_db()
    assert offer.status == SlotOffer.Status.GONE
    assert not Appointment.objects.live().filter(patient=offer.patient).exists()
    assert WaitlistEntry.objects.get().status == WaitlistEntry.Status.WAITING


def test_an_answer_after_the_hold_has_run_out_books_nothing(frozen, clinic, chair):
    waiting(clinic, "Ann")
    free_up(chair)
    waitlist.offer_freed_slots()
    offer = open_offer()
    frozen.move_to(NOW + datetime.timedelta(minutes=31))
    assert waitlist.accept(offer) == (waitlist.EXPIRED, None)
    assert not Appointment.objects.live().filter(patient=offer.patient).exists()


def test_a_withdrawn_wish_closes_its_offers(frozen, clinic, chair):
    entry = waiting(clinic, "Ann")
    free_up(chair)
    waitlist.offer_freed_slots()
    offer = open_offer()
    assert waitlist.withdraw(entry) and not waitlist.withdraw(entry)
    offer.refresh_from_db()
    assert offer.status == SlotOffer.Status.SKIPPED
    assert waitlist.accept(offer)[0] == waitlist.CLOSED


# --- Wishes ----------------------------------------------------------------------------------------


def test_a_patient_waits_once_per_clinic_and_needs_something_to_book(frozen, clinic, protocol):
    patient = PatientFactory(home_clinic=clinic)
    with pytest.raises(waitlist.WaitlistRefusal, match="nothing to offer"):
        waitlist.add_wish(patient=patient, clinic=clinic)
    plan = MaintenancePlanFactory(patient=patient, protocol=protocol)
    MaintenancePhaseFactory(plan=plan)
    entry = waitlist.add_wish(patient=patient, clinic=clinic, weekdays=["4", "0"])
    assert (entry.kind, entry.weekdays) == (Appointment.Kind.MAINTENANCE, "04")
    with pytest.raises(waitlist.WaitlistRefusal, match="already on this clinic's waitlist"):
        waitlist.add_wish(patient=patient, clinic=clinic)
    assert waitlist.describe(entry) == "Mondays or Fridays"


def test_a_wish_cannot_bring_forward_someone_elses_or_a_past_visit(frozen, clinic, chair, protocol):
    patient, other = PatientFactory(home_clinic=clinic), PatientFactory(home_clinic=clinic)
    theirs = book_appointment(patient=other, chair=chair, starts_at=SLOT, kind=Appointment.Kind.CONSULT,
                              booked_by=None)
    with pytest.raises(waitlist.WaitlistRefusal, match="not one of this patient's"):
        waitlist.add_wish(patient=patient, clinic=clinic, earlier_than=theirs)
    cancel_appointment(theirs, by=None)
    theirs.refresh_from_db()
    with pytest.raises(waitlist.WaitlistRefusal, match="no longer booked"):
        waitlist.add_wish(patient=other, clinic=clinic, earlier_than=theirs)
    assert not WaitlistEntry.objects.exists()


def test_the_candidate_search_reads_a_fixed_number_of_queries(frozen, clinic, chair, django_assert_num_queries):
    free_up(chair)
    freed = FreedSlot.objects.select_related("clinic", "chair").get()
    for n in range(3):
        waiting(clinic, f"A{n}", overdue_days=n)
    earliest = NOW + datetime.timedelta(hours=3)
    with django_assert_num_queries(8) as few:  # entries, plans, courses, bookings, offers; hours, closures, chair's
        assert len(waitlist.candidates(freed, timezone.now(), earliest)) == 3
    for n in range(12):
        waiting(clinic, f"B{n}", overdue_days=n)
    with django_assert_num_queries(len(few)):
        assert len(waitlist.candidates(freed, timezone.now(), earliest)) == 15
