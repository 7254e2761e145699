"""The server-drawn charts (patients/charts.py, patients/portal_chart.py): the median time to
draw each with realistic data — a patient with ~40 sessions over two courses and a maintenance
plan, 8 PHQ-9s and 10 motor thresholds; a relapse-free survival chart of two groups
(BENCH_SURVIVAL_PATIENTS in all, 4 000 by default) — and the first chart in a fresh Python
process: its import and first draw, less the same process's second draw (what the first request
of a new web worker pays). Goals (issue 15): each chart ≤ 10 ms, first-chart penalty ≤ 100 ms.

The charts are pure functions of their data: no database is needed.
"""

import datetime
import json
import os
import random
import subprocess
import sys
import time
from types import SimpleNamespace

from harness import best_of, report

SURVIVAL_PATIENTS = int(os.environ.get("BENCH_SURVIVAL_PATIENTS", "4000"))
DRAW_GOAL_MS, FIRST_GOAL_MS = 10, 100
TODAY = datetime.date(2026, 12, 4)


def phq9_data():
    """A patient a year into treatment: an acute course of 30 sessions, a maintenance plan with
    10 visits so far, a reintroduction course of 6 sessions, 8 PHQ-9s."""
    acute_start = TODAY - datetime.timedelta(days=330)
    acute = [acute_start + datetime.timedelta(days=day) for day in range(0, 42) if day % 7 < 5][:30]
    plan_start = acute[-1] + datetime.timedelta(days=14)
    maintenance = [plan_start + datetime.timedelta(days=21 * n) for n in range(10)]
    reintroduction_start = maintenance[-1] + datetime.timedelta(days=10)
    reintroduction = [reintroduction_start + datetime.timedelta(days=n) for n in range(6)]
    scores = [(acute_start - datetime.timedelta(days=2), 22), (acute[14], 15), (acute[-1], 7),
              (plan_start + datetime.timedelta(days=60), 6), (plan_start + datetime.timedelta(days=150), 9),
              (reintroduction_start - datetime.timedelta(days=1), 16), (reintroduction[-1], 11),
              (TODAY - datetime.timedelta(days=3), 4)]

    def course(start, end, label, baseline, latest, latest_on):
        outcome = {"baseline": SimpleNamespace(total=baseline), "latest": SimpleNamespace(total=latest),
                   "response": latest <= baseline / 2, "remission": latest < 5}
        return {"start": start, "end": end, "label": label, "outcome": outcome, "latest_on": latest_on}

    courses = [course(reintroduction_start, reintroduction[-1], "Reintroduction course", 16, 11, reintroduction[-1]),
               course(acute_start, acute[-1], "Acute course", 22, 7, acute[-1])]
    return {"scores": scores, "sessions": acute + maintenance + reintroduction, "courses": courses,
            "maintenance_from": plan_start, "until": TODAY}


def mt_data():
    start = TODAY - datetime.timedelta(days=330)
    return [(start + datetime.timedelta(days=30 * n), 52 + (n * 7) % 9) for n in range(10)]


def survival_data():
    from patients.outcomes import kaplan_meier

    rng = random.Random(15)
    groups = []
    for key, label, hazard, count in (("on-schedule", "Stayed on schedule", 1 / 900, SURVIVAL_PATIENTS * 3 // 4),
                                      ("lapsed", "Lapsed (had an overdue flag)", 1 / 300, SURVIVAL_PATIENTS // 4)):
        durations, events = [], []
        for _ in range(count):
            followed = rng.randint(90, 900)
            relapse = int(rng.expovariate(hazard))
            durations.append(min(followed, relapse))
            events.append(relapse < followed)
        groups.append({"key": key, "label": label, "durations": durations, "events": events,
                       "steps": kaplan_meier(durations, events)})
    return groups


def portal_data():
    data = phq9_data()
    halfway = [(c["start"], c["end"], c["outcome"]["baseline"].total / 2) for c in reversed(data["courses"])]
    return {"scores": data["scores"], "halfway": halfway, "until": TODAY}


def draw(name):
    """A function drawing chart ``name`` from its data (the data built beforehand)."""
    if name == "portal PHQ-9":
        from patients import portal_chart

        data = portal_data()
        return lambda: portal_chart.phq9_chart(**data)
    from patients import charts

    if name == "patient PHQ-9":
        data = phq9_data()
        return lambda: charts.phq9_chart(**data)
    if name == "motor thresholds":
        data = mt_data()
        return lambda: charts.mt_chart(data)
    data = survival_data()
    return lambda: charts.survival_chart(data)


CHARTS = ("patient PHQ-9", "motor thresholds", "survival", "portal PHQ-9")


def first_chart(name):
    """In this (fresh) process: import and first draw of ``name``, and its second draw, in s."""
    started = time.perf_counter()
    chart = draw(name)
    chart()
    first = time.perf_counter() - started
    started = time.perf_counter()
    svg = chart()
    second = time.perf_counter() - started
    return {"first": first, "second": second, "bytes": len(svg.encode())}


def in_a_fresh_process(name):
    # The harness (Django set up, as in a web worker) is imported before the clock starts.
    output = subprocess.run([sys.executable, __file__, "--fresh", name], capture_output=True, text=True,  # noqa: S603
                            check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    rows = []
    for name in CHARTS:
        fresh = in_a_fresh_process(name)
        median = best_of(draw(name), repeat=21)
        penalty = fresh["first"] - fresh["second"]
        rows += [
            (f"{name}: median draw (ms, goal <= {DRAW_GOAL_MS})",
             f"{median * 1000:.2f}  ({median * 1000 / DRAW_GOAL_MS:.2f}x the goal)"),
            (f"{name}: first in a new process, extra (ms, goal <= {FIRST_GOAL_MS})",
             f"{penalty * 1000:.1f}  ({penalty * 1000 / FIRST_GOAL_MS:.2f}x the goal)"),
            (f"{name}: SVG size (KB)", f"{fresh['bytes'] / 1024:.1f}"),
        ]
    report(f"Charts: drawing time with realistic data (survival: {SURVIVAL_PATIENTS} patients)", rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fresh"]:
        print(json.dumps(first_chart(sys.argv[2])))
    else:
        main()
