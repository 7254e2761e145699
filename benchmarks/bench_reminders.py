"""send_due over 10 000 due reminders with in-memory backends (half e-mail, half SMS):
sends per second and queries per reminder, against the floor: rendering and handing the
same messages to the same backends with no bookkeeping at all. The queries are counted for
several sizes to show they grow with the number of batches, not of reminders."""

import datetime

from harness import captured, in_memory_messages, noon_tomorrow, queries_at_sizes, report, throwaway_database

REMINDERS = 10_000
CHAIRS = 8  # a clinic of 8 chairs: 8 sessions start at the same time
SIZES = (50, 500, 2000)


def build(count, now, offset=0):
    """``count`` patients with an appointment in two days and a reminder due a minute ago."""
    from patients.models import Patient
    from scheduling.models import Appointment, Chair, Clinic, Reminder

    clinic, _ = Clinic.objects.get_or_create(name="Bench", defaults={"time_zone": "America/New_York",
                                                                     "address": "1 Main Street"})
    chairs = list(Chair.objects.filter(clinic=clinic).order_by("pk")) or Chair.objects.bulk_create(
        Chair(clinic=clinic, name=f"Chair {n}") for n in range(CHAIRS)
    )
    patients = Patient.objects.bulk_create(
        (Patient(mrn=f"R{offset + n:07d}", first_name="Bench", last_name=str(offset + n),
                 date_of_birth=datetime.date(1980, 1, 1), home_clinic=clinic,
                 email=f"r{offset + n}@patients.test", phone=f"+1212{offset + n:07d}",
                 email_consent=True, sms_consent=True, preferred_channel=("email", "sms")[n % 2])
         for n in range(count)),
        batch_size=1000,
    )
    first = now + datetime.timedelta(days=2)
    appointments = Appointment.objects.bulk_create(
        (Appointment(patient=patient, clinic=clinic, chair=chairs[(offset + n) % CHAIRS], kind="maintenance",
                     starts_at=first + datetime.timedelta(hours=(offset + n) // CHAIRS),
                     ends_at=first + datetime.timedelta(hours=(offset + n) // CHAIRS, minutes=45))
         for n, patient in enumerate(patients)),
        batch_size=1000,
    )
    Reminder.objects.bulk_create(
        (Reminder(appointment=appointment, kind=Reminder.Kind.DAY_BEFORE, channel=appointment.patient.preferred_channel,
                  scheduled_for=now - datetime.timedelta(minutes=1))
         for appointment in appointments),
        batch_size=1000,
    )


def main():
    with throwaway_database():
        import time

        from django.core import mail
        from django.core.mail import get_connection

        from scheduling import sms
        from scheduling.models import Reminder
        from scheduling.services import reminders

        now = noon_tomorrow()

        with in_memory_messages():
            def send(size):
                assert reminders.send_due(now=now)["sent"] == size

            queries_for, offset = queries_at_sizes(SIZES, lambda size, offset: build(size, now, offset), send)

            build(REMINDERS, now, offset)
            with captured() as counted:
                started = time.perf_counter()
                counts = reminders.send_due(now=now)
                elapsed = time.perf_counter() - started
            assert counts["sent"] == REMINDERS, counts
            queries = len(counted)
            assert len(mail.outbox) + len(sms.outbox) == sum(SIZES) + REMINDERS
            assert not Reminder.objects.exclude(status=Reminder.Status.SENT).exists()

            # The floor: the same messages rendered and handed to the same backends, no database.
            rows = list(Reminder.objects.filter(appointment__patient__mrn__gte=f"R{offset:07d}").select_related(
                "appointment__patient", "appointment__clinic"))
            assert len(rows) == REMINDERS
            mail_connection, sms_backend = get_connection(), sms.get_backend()
            started = time.perf_counter()
            for start in range(0, REMINDERS, reminders.BATCH):
                render = reminders.BatchRenderer()  # rendered as send_due renders, once per batch
                for reminder in rows[start:start + reminders.BATCH]:
                    reminders._deliver(reminder, mail_connection, sms_backend, render)
            floor = time.perf_counter() - started
            # Rendering every message on its own, as send_due did before it rendered per batch.
            started = time.perf_counter()
            for reminder in rows:
                reminders._deliver(reminder, mail_connection, sms_backend)
            unbatched = time.perf_counter() - started

        batches = -(-REMINDERS // reminders.BATCH)
        rows_out = [(f"queries for {size} due reminders ({-(-size // reminders.BATCH)} batch(es))", queries_for[size])
                    for size in SIZES]
        report(f"send_due: {REMINDERS} due reminders, half e-mail, half SMS, in-memory backends", [
            *rows_out,
            (f"queries for {REMINDERS} ({batches} batches of {reminders.BATCH})", queries),
            ("queries per batch", f"{queries / batches:.1f}"),
            ("queries per reminder", f"{queries / REMINDERS:.4f}"),
            ("send_due (s)", f"{elapsed:.2f}"),
            ("sends per second", f"{REMINDERS / elapsed:.0f}"),
            ("floor: render and hand over only (s)", f"{floor:.2f}"),
            ("ratio to the floor", f"{elapsed / floor:.2f}x"),
            ("the floor rendering each message on its own (s)", f"{unbatched:.2f}"),
        ])


if __name__ == "__main__":
    main()
