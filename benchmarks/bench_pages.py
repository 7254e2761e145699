"""Page budgets (issue 15, item 2): every staff and portal page (tests/pages.py) on seed_demo's
chain at 1 000 patients and at BENCH_PATIENTS (default 100 000), read in-process with Django's
test client. For each page: its queries at both sizes (must be equal), its HTML size (goal
≤ 150 KB) and its median server time at the big size, as ratios to two one-query views measured
in the same run:

- the goal's (≤ 4×): the signed-in ``/session/status`` read by the same signed-in client as the
  page (the staff client for staff pages, the portal client for portal pages). It goes through
  the same middleware as the pages — session, authentication, second factor, automatic logoff,
  the audit middleware — and makes no query of its own beyond loading the session and the user;
  it is not under /staff/ or /portal/, so it writes no audit event (a page writes one);
- the anonymous ``/healthz`` (``SELECT 1``, no session): the floor of any request;
- an empty staff page and an empty portal page (``floor_urls.py``, mounted only here): what every
  page of its kind must do — the capability check, the audit event, the base template with its
  navigation — and nothing more. Each page's time over its empty page is what it costs itself.

BENCH_PAGES_REPEAT sets how many timed reads each page gets (default 9, after one warm-up).
"""

import io
import os
import time

os.environ.setdefault("TMS_MFA_REQUIRED", "false")  # the second factor is not what is measured
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("HTTPS", "false")  # the test client speaks plain HTTP to "testserver"
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault("EMAIL_URL", "consolemail://")

from harness import ROOT, best_of, report, throwaway_database  # noqa: E402

SMALL = 1000
BIG = int(os.environ.get("BENCH_PATIENTS", "100000"))
REPEAT = int(os.environ.get("BENCH_PAGES_REPEAT", "9"))
GOAL_KB = 150
GOAL_RATIO = 4.0


SIGNED_IN_VIEW = "/session/status"


def measure(timed):
    """{label: (queries, bytes, median seconds, SQL seconds of one read)} of every page, and the
    medians of the one-query views: {"healthz": s, "staff": s, "portal": s}."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from tests.pages import demo_world, pages, signed_in_clients

    world = demo_world()
    staff, portal = signed_in_clients(world)
    anonymous = Client()
    figures = {}
    for label, audience, url, headers in pages(world):
        client = staff if audience == "staff" else portal
        client.get(url, **headers)  # warm: caches, the session's chosen clinic
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, **headers)
        assert response.status_code == 200, f"{label} {url}: {response.status_code}"
        count = len(queries)  # now: each request empties connection.queries
        sql = sum(float(query["time"]) for query in queries.captured_queries)
        seconds = best_of(lambda c=client, u=url, h=headers: c.get(u, **h), repeat=REPEAT) if timed else None
        figures[label] = (count, len(response.content), seconds, sql, audience)
    floors = None
    if timed:
        # The adherence dashboard's figures are shared for TMS_ADHERENCE_MAX_AGE_SECONDS, so the
        # reads above (after the warm-up) read them; the first read of each window counts them:
        url = next(url for label, _, url, _ in pages(world) if label == "staff:adherence")
        with override_settings(TMS_ADHERENCE_MAX_AGE_SECONDS=0):
            seconds = best_of(lambda: staff.get(url), repeat=max(3, REPEAT // 3))
            size = len(staff.get(url).content)
        figures["staff:adherence, counted afresh (a window's first read)"] = (None, size, seconds, None, "staff")
        floors = {"healthz": best_of(lambda: anonymous.get("/healthz"), repeat=max(REPEAT, 21))}
        for audience, client in (("staff", staff), ("portal", portal)):
            assert client.get(SIGNED_IN_VIEW).json()["signed_in"]
            floors[audience] = best_of(lambda c=client: c.get(SIGNED_IN_VIEW), repeat=max(REPEAT, 21))
        from floor_urls import EMPTY_PAGES

        with override_settings(ROOT_URLCONF="floor_urls"):
            for audience, client in (("staff", staff), ("portal", portal)):
                url = EMPTY_PAGES[audience]
                assert client.get(url).status_code == 200, url
                floors[f"empty {audience}"] = best_of(lambda c=client, u=url: c.get(u), repeat=max(REPEAT, 21))
    return figures, floors


def seed(patients):
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("seed_demo", patients=patients, seed=1, verbosity=0, stdout=io.StringIO())
    return time.perf_counter() - started


def main():
    import logging

    logging.getLogger("axes").setLevel(logging.WARNING)  # a line for every force_login
    from django.conf import settings
    from django.test.utils import override_settings

    # The test settings' cheap static storage: the manifest one needs collectstatic first.
    storages = {**settings.STORAGES,
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

    def figures(world):
        # Each world's adherence figures apart: both worlds' clinics have the same ids.
        return {**settings.CACHES, "figures": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                               "LOCATION": f"bench-pages-{world}"}}

    with throwaway_database(), override_settings(STORAGES=storages, CACHES=figures("small")):
        seed(SMALL)
        small, _ = measure(timed=False)
    with throwaway_database(), override_settings(STORAGES=storages, CACHES=figures("big")):
        seeded = seed(BIG)
        big, floors = measure(timed=True)

        from scheduling.models import Chair, Clinic

        first = Clinic.objects.order_by("pk").first()
        rows = [("seed_demo --patients (s)", f"{BIG}: {seeded:.0f} s, {Clinic.objects.count()} clinics; "
                 f"pages at {first.name}, {Chair.objects.filter(clinic=first).count()} chairs"),
                ("/healthz (anonymous, SELECT 1), median ms", f"{floors['healthz'] * 1000:.1f}"),
                (f"{SIGNED_IN_VIEW} signed in, staff / portal, median ms",
                 f"{floors['staff'] * 1000:.1f} / {floors['portal'] * 1000:.1f}"),
                ("empty staff / portal page (floor_urls.py), median ms",
                 f"{floors['empty staff'] * 1000:.1f} / {floors['empty portal'] * 1000:.1f} "
                 f"({floors['empty staff'] / floors['staff']:.1f}x / {floors['empty portal'] / floors['portal']:.1f}x "
                 f"the signed-in view)"),
                ("page: queries 1k/big, KB, median ms (SQL ms)",
                 "x signed-in view (the goal's), x /healthz, x its empty page")]
        over = []
        for label, (queries, size, seconds, sql, audience) in big.items():
            if queries is None:  # measured apart, without its queries
                rows.append((f"  {label}", f"{'':7} {size / 1024:7.1f} KB {seconds * 1000:7.1f} ms {'':11} "
                             f"{seconds / floors[audience]:6.1f}x {seconds / floors['healthz']:6.1f}x "
                             f"{seconds / floors['empty ' + audience]:6.1f}x"))
                continue
            small_queries = small[label][0]
            ratio = seconds / floors[audience]
            flags = "".join([" QUERIES DIFFER" if small_queries != queries else "",
                             " >150KB" if size > GOAL_KB * 1024 else "", " >4x" if ratio > GOAL_RATIO else ""])
            if flags:
                over.append(label)
            rows.append((f"  {label}", f"{small_queries:>3}/{queries:<3} {size / 1024:7.1f} KB "
                         f"{seconds * 1000:7.1f} ms (SQL {sql * 1000:5.1f}) {ratio:6.1f}x "
                         f"{seconds / floors['healthz']:6.1f}x {seconds / floors['empty ' + audience]:6.1f}x{flags}"))
        rows.append(("pages over a goal", ", ".join(over) or "none"))
        report(f"Pages at {SMALL:,} and {BIG:,} patients (goals: equal queries, ≤ {GOAL_KB} KB, "
               f"≤ {GOAL_RATIO:g}x the signed-in {SIGNED_IN_VIEW})", rows)


if __name__ == "__main__":
    assert ROOT
    main()
