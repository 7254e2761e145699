"""The charts (patients/charts.py, portal_chart.py) with a realistic patient's data: drawing
one (matplotlib) against showing one kept by its data, and the first chart of a fresh web
process with and without the warm-up tmsclinic/wsgi.py does as the process starts. Goals: a
chart shown in 10 ms, no first request paying 100 ms more than the next."""

import datetime
import statistics
import subprocess
import sys
import time

from harness import ROOT, report

GOAL_MS, FIRST_GOAL_MS = 10, 100
DAY = datetime.date(2026, 1, 5)

FRESH = """
import os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tmsclinic.settings")
os.environ.setdefault("SECRET_KEY", "benchmarks-only")
sys.path.insert(0, {root!r})
import django
if {warm}:
    import tmsclinic.wsgi  # what gunicorn loads: warms the charts up as the process starts
else:
    django.setup()
import datetime
from patients import charts
day = datetime.date(2026, 1, 5)
def draw(n):
    started = time.perf_counter()
    charts.mt_chart([(day + datetime.timedelta(days=7 * k), 50 + k + n) for k in range(6)])
    return time.perf_counter() - started
print(draw(0), draw(1))
"""


def patient():
    """~40 sessions, 6 PHQ-9s, MT re-measured every fifth session, one course with an outcome."""
    from types import SimpleNamespace

    sessions = [DAY + datetime.timedelta(days=d) for d in range(63) if (DAY + datetime.timedelta(days=d)).weekday() < 5]
    scores = [(DAY - datetime.timedelta(days=7), 22)] + [(sessions[n], 22 - n // 3) for n in (0, 10, 20, 30, 40)]
    course = {"start": DAY, "end": sessions[-1], "label": "Acute course", "latest_on": scores[-1][0],
              "outcome": {"baseline": SimpleNamespace(total=22), "latest": SimpleNamespace(total=scores[-1][1]),
                          "response": True, "remission": False}}
    return {"scores": scores, "sessions": sessions, "courses": [course], "maintenance_from": sessions[-1],
            "until": sessions[-1] + datetime.timedelta(days=30)}, [(day, 55 + n % 3) for n, day in
                                                                    enumerate(sessions[::5])]


def timed(function, repeat=15):
    function()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def fresh_process(warm):
    out = subprocess.run([sys.executable, "-c", FRESH.format(root=str(ROOT), warm=warm)], capture_output=True,  # noqa: S603
                         text=True, check=True, cwd=ROOT)
    first, second = map(float, out.stdout.split())
    return first * 1000, second * 1000


def main():
    from patients import charts, portal_chart

    phq9, measurements = patient()
    groups = [{"key": key, "label": key, "durations": list(range(20, 400, 9 + n)),
               "events": [k % 3 == 0 for k in range(len(range(20, 400, 9 + n)))],
               "steps": [(0, 1.0, 0), *((d, 1 - k / 60, 1) for k, d in enumerate(range(20, 400, 30)))]}
              for n, key in enumerate(("weekly", "monthly"))]
    portal = {"scores": phq9["scores"], "halfway": [(DAY, phq9["courses"][0]["end"], 11.0)], "until": phq9["until"]}
    rows = []
    for name, draw, show in [
        ("PHQ-9 (patient page)", lambda: charts._draw_phq9.__wrapped__(
            tuple(phq9["scores"]), tuple(phq9["sessions"]),
            ((DAY, phq9["courses"][0]["end"], "Acute course", 22, phq9["scores"][-1][0], phq9["scores"][-1][1], True,
              False),), phq9["maintenance_from"], phq9["until"]), lambda: charts.phq9_chart(**phq9)),
        ("MT (patient page)", lambda: charts._draw_mt.__wrapped__(tuple(measurements)),
         lambda: charts.mt_chart(measurements)),
        ("survival (outcomes)", lambda: charts._draw_survival.__wrapped__(tuple(
            (g["key"], g["label"], tuple(g["durations"]), tuple(g["events"]), tuple(g["steps"])) for g in groups)),
         lambda: charts.survival_chart(groups)),
        ("PHQ-9 (portal)", lambda: portal_chart._draw.__wrapped__(
            tuple(portal["scores"]), tuple(portal["halfway"]), portal["until"]),
         lambda: portal_chart.phq9_chart(**portal)),
    ]:
        drawn, shown = timed(draw, repeat=7), timed(show, repeat=200)
        rows.append((f"{name}: drawn / shown when kept (ms)",
                     f"{drawn:.1f} / {shown:.3f}  (to the {GOAL_MS} ms goal: drawn {drawn / GOAL_MS:.1f}x, "
                     f"kept {shown / GOAL_MS:.4f}x)"))
    cold_first, cold_next = fresh_process(warm=False)
    warm_first, warm_next = fresh_process(warm=True)
    report("Charts: drawing one against showing one kept by its data; a fresh process's first chart", [
        *rows,
        ("fresh process, no warm-up: first / next chart (ms)", f"{cold_first:.0f} / {cold_next:.0f}"),
        ("fresh web process (wsgi warm-up): first / next (ms)", f"{warm_first:.0f} / {warm_next:.0f}"),
        (f"first-request penalty with the warm-up (goal {FIRST_GOAL_MS} ms)", f"{warm_first - warm_next:.0f} ms"),
    ])


if __name__ == "__main__":
    main()
