"""seed_demo's chain of 100 000 patients (BENCH_SEED_PATIENTS changes it) on a throw-away
database: the time of each step, rows a second, peak memory, against the goal of two minutes
and 1 GB."""

import io
import os
import resource
import time

from harness import report, throwaway_database

PATIENTS = int(os.environ.get("BENCH_SEED_PATIENTS", "100000"))
GOAL_SECONDS = 120
GOAL_MB = 1024


def main():
    with throwaway_database():
        from django.core.management import call_command

        from patients.models import Assessment, Patient
        from scheduling.models import Appointment, Clinic, Reminder, SessionRecord

        out = io.StringIO()
        started = time.perf_counter()
        call_command("seed_demo", patients=PATIENTS, seed=1, verbosity=2, stdout=out)
        elapsed = time.perf_counter() - started
        from scheduling.management.commands.seed_demo import PARTS

        # This process and the PARTS it forks to build the patients: each one's peak, added up as
        # if they all peaked at once (an upper bound: a forked process shares its parent's pages).
        own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        part_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest
        peak_mb = own_mb + PARTS * part_mb
        rows = {model.__name__: model.objects.count()
                for model in (Patient, Appointment, SessionRecord, Assessment, Reminder)}
        steps = [line.strip() for line in out.getvalue().splitlines() if " s  " in line]
        report(f"seed_demo --patients {PATIENTS}: {Clinic.objects.count()} clinics", [
            *((step.split(" s  ", 1)[1], step.split(" s  ", 1)[0] + " s") for step in steps),
            ("rows written", f"{sum(rows.values()):,}  ({', '.join(f'{n} {v:,}' for n, v in rows.items())})"),
            ("rows a second", f"{sum(rows.values()) / elapsed:,.0f}"),
            ("whole command (s)", f"{elapsed:.1f}"),
            (f"ratio to the goal of {GOAL_SECONDS} s", f"{elapsed / GOAL_SECONDS:.2f}x"),
            ("peak memory (MB): this process + the building ones (at most)",
             f"{peak_mb:.0f} ({own_mb:.0f} + {PARTS} x {part_mb:.0f})"),
            (f"ratio to the goal of {GOAL_MB} MB", f"{peak_mb / GOAL_MB:.2f}x"),
        ])


if __name__ == "__main__":
    main()
