"""flag_overdue_patients over the active plans of a seed_demo clinic (100 000 patients by
default; BENCH_PATIENTS changes it), against the floor: one hand-written SQL statement that
raises the same overdue flags."""

import io
import os
import time

from harness import report, throwaway_database

PATIENTS = int(os.environ.get("BENCH_PATIENTS", "100000"))

FLOOR = """
INSERT INTO patients_patientflag (patient_id, kind, detail, plan_id, due_on, raised_at, resolution_note)
SELECT patient_id, 'overdue_maintenance', '', id, next_due_on, %s, ''
FROM patients_maintenanceplan WHERE status = 'active' AND overdue_after <= %s
"""


def timed(function, reset, repeat=5):
    timings = []
    for _ in range(repeat):
        reset()
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return sorted(timings)[len(timings) // 2]


def main():
    with throwaway_database():
        from django.core.management import call_command
        from django.db import connection, transaction
        from django.utils import timezone

        from patients.models import MaintenancePlan, PatientFlag
        from scheduling.models import Appointment, JobMark
        from scheduling.services.plans import flag_overdue_patients

        started = time.perf_counter()
        call_command("seed_demo", patients=PATIENTS, seed=1, verbosity=0, stdout=io.StringIO())
        seeded = time.perf_counter() - started
        now = timezone.now()
        active = MaintenancePlan.objects.filter(status="active").count()
        no_shows = Appointment.objects.filter(status="no_show").count()
        overdue = MaintenancePlan.objects.filter(status="active", overdue_after__lte=now).count()

        def reset():
            PatientFlag.objects.filter(kind=PatientFlag.Kind.OVERDUE_MAINTENANCE).delete()
            if connection.vendor == "postgresql":
                # Each repetition starts from the same table, not one growing dead rows.
                with connection.cursor() as cursor:
                    cursor.execute(f"VACUUM {PatientFlag._meta.db_table}")

        def floor():
            with transaction.atomic(), connection.cursor() as cursor:
                when = connection.ops.adapt_datetimefield_value(now)
                cursor.execute(FLOOR, [when, when])

        def task():
            flag_overdue_patients(now=now)

        floor_time, task_time = timed(floor, reset), timed(task, reset)
        raised = PatientFlag.objects.filter(kind=PatientFlag.Kind.OVERDUE_MAINTENANCE).count()
        # What the hourly job mostly does: everyone overdue already has a flag.
        again_time = timed(task, lambda: None)

        def forget_the_mark():
            JobMark.objects.all().delete()
            reset()

        # The first run ever (or after its mark was lost) looks at a year of no-shows.
        cold_time = timed(task, forget_the_mark, repeat=3)
        report(f"flag_overdue_patients over a seed_demo clinic of {PATIENTS} patients", [
            ("seed_demo time (s)", f"{seeded:.1f}"),
            ("active plans / overdue / no-shows", f"{active} / {overdue} / {no_shows}"),
            ("overdue flags raised by the task", raised),
            ("floor: one INSERT ... SELECT (ms)", f"{floor_time * 1000:.1f}"),
            ("flag_overdue_patients (ms)", f"{task_time * 1000:.1f}"),
            ("ratio to the floor (goal: within 1.2x)", f"{task_time / floor_time:.2f}x"),
            ("the next hourly run, nothing new to raise (ms)", f"{again_time * 1000:.1f}"),
            ("a first run, no mark: a year of no-shows (ms)", f"{cold_time * 1000:.1f}"),
        ])


if __name__ == "__main__":
    main()
