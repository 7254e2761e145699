"""The outreach job (scheduling/services/outreach.py run: arm, then send_due) over N open
overdue flags whose day-0 step is due, half by e-mail, half by SMS, with in-memory backends:
messages per second and queries per batch at several sizes, against the floor: rendering the
same messages and handing them to the same backends, with no bookkeeping at all."""

import datetime
import os
import time

from harness import captured, in_memory_messages, noon_tomorrow, queries_at_sizes, report, throwaway_database

MESSAGES = int(os.environ.get("BENCH_OUTREACH_MESSAGES", "5000"))
SIZES = (50, 200, 1000)


def build(count, now, offset=0):
    """``count`` patients with an overdue flag raised an hour ago and nothing booked."""
    from patients.models import Patient, PatientFlag
    from scheduling.models import Clinic

    clinic, _ = Clinic.objects.get_or_create(name="Bench", defaults={"time_zone": "America/New_York",
                                                                     "address": "1 Main Street",
                                                                     "phone": "+12125550100"})
    patients = Patient.objects.bulk_create(
        (Patient(mrn=f"O{offset + n:07d}", first_name="Bench", last_name=str(offset + n),
                 date_of_birth=datetime.date(1980, 1, 1), home_clinic=clinic,
                 email=f"o{offset + n}@patients.test", phone=f"+1212{offset + n:07d}",
                 email_consent=True, sms_consent=True, preferred_channel=("email", "sms")[n % 2])
         for n in range(count)),
        batch_size=1000,
    )
    PatientFlag.objects.bulk_create(
        (PatientFlag(patient=patient, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE, raised_at=now - datetime.timedelta(
            hours=1), due_on=now.date() - datetime.timedelta(days=10)) for patient in patients),
        batch_size=1000,
    )


def main():
    with throwaway_database():
        from django.core import mail
        from django.core.mail import get_connection

        from scheduling import sms
        from scheduling.models import OutreachMessage
        from scheduling.services import messaging, outreach

        now = noon_tomorrow()

        with in_memory_messages():
            def armed(size, offset):
                build(size, now, offset)
                assert outreach.arm(now) == size

            def send(size):
                assert outreach.send_due(now)["sent"] == size

            queries_for, offset = queries_at_sizes(SIZES, armed, send)

            build(MESSAGES, now, offset)
            started = time.perf_counter()
            armed = outreach.arm(now)
            arming = time.perf_counter() - started
            assert armed == MESSAGES
            with captured() as counted:
                started = time.perf_counter()
                counts = outreach.send_due(now)
                elapsed = time.perf_counter() - started
            assert counts["sent"] == MESSAGES, counts
            queries = len(counted)
            assert len(mail.outbox) + len(sms.outbox) == sum(SIZES) + MESSAGES

            # The floor: the same messages rendered and handed to the same backends, no database.
            rows = list(OutreachMessage.objects.filter(patient__mrn__gte=f"O{offset:07d}").select_related(
                "patient__home_clinic", "flag", "template", "step__cadence"))
            assert len(rows) == MESSAGES
            mail_connection, sms_backend = get_connection(), sms.get_backend()
            started = time.perf_counter()
            for row in rows:
                subject, text = outreach.render(row, row.channel)
                messaging.deliver(row.patient, row.channel, subject, text, None, mail_connection, sms_backend)
            floor = time.perf_counter() - started

        batch = outreach.BATCH
        batches = -(-MESSAGES // batch)
        report(f"outreach: {MESSAGES} open overdue flags with their day-0 step due, half e-mail, half SMS, "
               "in-memory backends", [
                   *((f"send_due: queries for {size} due ({-(-size // batch)} batch(es) of {batch})", queries_for[size])
                     for size in SIZES),
                   (f"send_due: queries for {MESSAGES} ({batches} batches)", queries),
                   ("queries per batch", f"{queries / batches:.1f}"),
                   ("arm: rows written per second", f"{MESSAGES / arming:.0f}"),
                   ("send_due (s)", f"{elapsed:.2f}"),
                   ("messages per second", f"{MESSAGES / elapsed:.0f}"),
                   ("floor: render and hand over only (s)", f"{floor:.2f}"),
                   ("ratio to the floor", f"{elapsed / floor:.2f}x"),
               ])


if __name__ == "__main__":
    main()
