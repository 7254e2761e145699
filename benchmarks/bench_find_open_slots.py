"""find_open_slots over 4 weeks × 8 chairs with 5 000 existing appointments, against the
floor: one indexed query fetching the same appointments."""

import datetime
import random

from harness import best_of, report, throwaway_database

CHAIRS = 8
DAYS = 28
APPOINTMENTS = 5000


def build():
    from patients.models import Patient, Protocol
    from scheduling.models import Appointment, Chair, Clinic, OpeningHours

    clinic = Clinic.objects.create(name="Bench", time_zone="America/New_York")
    for weekday in range(7):
        OpeningHours.objects.create(clinic=clinic, weekday=weekday, opens_at=datetime.time(7),
                                    closes_at=datetime.time(19))
    chairs = [Chair.objects.create(clinic=clinic, name=f"Chair {n}") for n in range(CHAIRS)]
    protocol = Protocol.objects.create(name="iTBS", pattern="itbs", pulses_per_session=600, session_minutes=3,
                                       chair_minutes=15, intensity_percent_mt=120)
    patients = Patient.objects.bulk_create(
        Patient(mrn=f"B{n:06d}", first_name="Bench", last_name=str(n), date_of_birth=datetime.date(1980, 1, 1),
                home_clinic=clinic)
        for n in range(APPOINTMENTS)
    )
    first_day = datetime.date.today() + datetime.timedelta(days=2)
    # 48 quarter-hour starts a chair-day; pick 5 000 distinct (chair, day, quarter) cells.
    cells = random.Random(1).sample(range(CHAIRS * DAYS * 48), APPOINTMENTS)
    rows = []
    for patient, cell in zip(patients, cells, strict=True):
        chair, rest = divmod(cell, DAYS * 48)
        day, quarter = divmod(rest, 48)
        local = datetime.datetime.combine(first_day + datetime.timedelta(days=day),
                                          datetime.time(7 + quarter // 4, 15 * (quarter % 4)), tzinfo=clinic.tz)
        rows.append(Appointment(patient=patient, clinic=clinic, chair=chairs[chair], kind="maintenance",
                                starts_at=local, ends_at=local + datetime.timedelta(minutes=15)))
    Appointment.objects.bulk_create(rows, batch_size=1000)
    start = datetime.datetime.combine(first_day, datetime.time(0), tzinfo=clinic.tz)
    return clinic, protocol, start, start + datetime.timedelta(days=DAYS)


def main():
    with throwaway_database():
        from scheduling.models import Appointment
        from scheduling.services import find_open_slots

        clinic, protocol, start, end = build()

        def floor():
            return list(Appointment.objects.live().filter(clinic=clinic).between(start, end)
                        .values_list("chair_id", "starts_at", "ends_at"))

        def slots():
            return find_open_slots(clinic=clinic, protocol=protocol, start=start, end=end)

        assert len(floor()) == APPOINTMENTS
        found = len(slots())
        floor_time, slots_time = best_of(floor), best_of(slots)
        report(f"find_open_slots: {DAYS} days x {CHAIRS} chairs, {APPOINTMENTS} appointments", [
            ("slots found", found),
            ("floor: one indexed query for the appointments (ms)", f"{floor_time * 1000:.1f}"),
            ("find_open_slots (ms per call)", f"{slots_time * 1000:.1f}"),
            ("ratio to the floor (target: within 3x)", f"{slots_time / floor_time:.2f}x"),
        ])


if __name__ == "__main__":
    main()
