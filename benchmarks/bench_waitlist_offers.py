"""The waitlist's offer job (scheduling/services/waitlist.py offer_freed_slots) over N freed chair
times, each with candidates (clinics of 8 chairs, 10 freed times and 20 waiting maintenance
patients each, half by e-mail, half by SMS), with in-memory backends: offers sent per second and
queries per freed time at several sizes, against the floor: rendering the same offers and
handing them to the same backends, with no bookkeeping at all."""

import datetime
import os
import time

from harness import Counted, in_memory_messages, noon_tomorrow, queries_at_sizes, report, throwaway_database

FREED = int(os.environ.get("BENCH_WAITLIST_FREED", "1000"))
SIZES = (20, 100, 200)  # a run looks at up to waitlist.ROWS_PER_RUN (200) freed times
PER_CLINIC, WAITING, CHAIRS = 10, 20, 8


def build(count, now, offset=0):
    """``count`` freed times in ``count / PER_CLINIC`` new clinics, each with its waiting patients."""
    from patients.models import MaintenancePhase, MaintenancePlan, Patient, Protocol
    from scheduling.models import Chair, Clinic, FreedSlot, OpeningHours, WaitlistEntry

    protocol, _ = Protocol.objects.get_or_create(name="Bench 10 Hz", defaults={
        "pattern": Protocol.Pattern.RTMS_10HZ, "pulses_per_session": 3000, "session_minutes": 38,
        "chair_minutes": 45, "intensity_percent_mt": 120})
    first = offset // PER_CLINIC
    clinics = Clinic.objects.bulk_create(Clinic(name=f"Bench {first + n}", time_zone="America/New_York",
                                                address="1 Main Street") for n in range(count // PER_CLINIC))
    OpeningHours.objects.bulk_create(OpeningHours(clinic=clinic, weekday=day, opens_at=datetime.time(6),
                                                  closes_at=datetime.time(22))
                                     for clinic in clinics for day in range(7))
    chairs = Chair.objects.bulk_create(Chair(clinic=clinic, name=f"Chair {n}") for clinic in clinics
                                       for n in range(CHAIRS))
    patients = Patient.objects.bulk_create(
        (Patient(mrn=f"W{first:05d}{n:05d}-{clinic.pk}", first_name="Bench", last_name=str(n),
                 date_of_birth=datetime.date(1980, 1, 1), home_clinic=clinic,
                 email=f"w{clinic.pk}-{n}@patients.test", phone=f"+1212{clinic.pk:04d}{n:03d}",
                 email_consent=True, sms_consent=True, preferred_channel=("email", "sms")[n % 2])
         for clinic in clinics for n in range(WAITING)), batch_size=1000)
    today = now.date()
    plans = MaintenancePlan.objects.bulk_create(
        (MaintenancePlan(patient=patient, protocol=protocol, started_on=today - datetime.timedelta(days=90),
                         next_due_on=today - datetime.timedelta(days=n % 15),
                         overdue_after=now - datetime.timedelta(days=max(n % 15 - 7, 0), hours=1))
         for n, patient in enumerate(patients)), batch_size=1000)
    MaintenancePhase.objects.bulk_create(MaintenancePhase(plan=plan, order=0, interval_days=28) for plan in plans)
    WaitlistEntry.objects.bulk_create(
        (WaitlistEntry(patient=patient, clinic_id=patient.home_clinic_id, kind="maintenance",
                       created_at=now - datetime.timedelta(days=1 + n % 9)) for n, patient in enumerate(patients)),
        batch_size=1000)
    # The day after tomorrow, from 09:00 in the clinic: each freed time on its own chair and hour.
    day = datetime.datetime.combine(today + datetime.timedelta(days=2), datetime.time(9),
                                    tzinfo=clinics[0].tz)
    FreedSlot.objects.bulk_create(
        (FreedSlot(clinic=clinic, chair=chairs[index * CHAIRS + n % CHAIRS],
                   starts_at=day + datetime.timedelta(hours=n), ends_at=day + datetime.timedelta(hours=n, minutes=45),
                   reason=FreedSlot.Reason.CANCELLED, look_at=now, created_at=now)
         for index, clinic in enumerate(clinics) for n in range(PER_CLINIC)), batch_size=1000)


def main():
    with throwaway_database():
        from django.core import mail
        from django.core.mail import get_connection

        from scheduling import sms
        from scheduling.models import FreedSlot, SlotOffer
        from scheduling.services import messaging, waitlist

        now = noon_tomorrow()

        with in_memory_messages():
            def fresh(size, offset):
                FreedSlot.objects.update(status=FreedSlot.Status.FILLED)  # the earlier ones out of the runs' way
                build(size, now, offset)

            def offer(size):
                counts = waitlist.offer_freed_slots(now)
                assert counts["sent"] == size, counts

            queries_for, offset = queries_at_sizes(SIZES, fresh, offer, count=Counted)
            fresh(FREED, offset)
            before = set(SlotOffer.objects.values_list("pk", flat=True))
            sent = runs = 0
            with Counted() as captured:
                started = time.perf_counter()
                while sent < FREED:  # as beat runs it every minute, and each freed time enqueues a run
                    counts = waitlist.offer_freed_slots(now)
                    assert counts["sent"], counts
                    sent, runs = sent + counts["sent"], runs + 1
                elapsed = time.perf_counter() - started
            assert sent == FREED, sent
            queries = len(captured)
            assert len(mail.outbox) + len(sms.outbox) == sum(SIZES) + FREED

            # The floor: the same offers rendered and handed to the same backends, no database.
            offers = list(SlotOffer.objects.exclude(pk__in=before).select_related("patient", "entry", "clinic",
                                                                                   "chair"))
            assert len(offers) == FREED
            mail_connection, sms_backend = get_connection(), sms.get_backend()
            started = time.perf_counter()
            for offer in offers:
                subject, text = waitlist.render_offer(offer, now)
                messaging.deliver(offer.patient, offer.channel, subject, text, None, mail_connection, sms_backend)
            floor = time.perf_counter() - started

        report(f"offer_freed_slots: {FREED} freed times, {PER_CLINIC} a clinic with {WAITING} waiting, one offer "
               "each, half e-mail, half SMS, in-memory backends", [
                   *((f"queries for {size} freed times", f"{queries_for[size]} ({queries_for[size] / size:.1f} each)")
                     for size in SIZES),
                   (f"queries for {FREED} ({runs} runs)", queries),
                   ("queries per freed time", f"{queries / FREED:.1f}"),
                   ("offer_freed_slots (s)", f"{elapsed:.2f}"),
                   ("offers per second", f"{FREED / elapsed:.0f}"),
                   ("floor: render and hand over only (s)", f"{floor:.2f}"),
                   ("ratio to the floor", f"{elapsed / floor:.2f}x"),
               ])


if __name__ == "__main__":
    main()
