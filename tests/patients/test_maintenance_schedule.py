import datetime

import pytest

from patients.models import MaintenancePhase, MaintenancePlan

START = datetime.date(2026, 3, 2)


def taper(plan):
    """Weekly ×4, every 2 weeks ×4, then monthly for as long as the plan runs."""
    return [
        MaintenancePhase(plan=plan, order=0, interval_days=7, visits=4),
        MaintenancePhase(plan=plan, order=1, interval_days=14, visits=4),
        MaintenancePhase(plan=plan, order=2, interval_days=28, visits=None),
    ]


@pytest.fixture
def plan():
    return MaintenancePlan(started_on=START, grace_days=7)


def test_the_first_visit_is_due_on_the_start_date(plan):
    assert plan.next_due_date(completed_visits=0, last_visit_on=None, phases=taper(plan)) == START


@pytest.mark.parametrize(
    ("completed", "interval"),
    [(1, 7), (3, 7), (4, 14), (7, 14), (8, 28), (50, 28)],
)
def test_each_visit_is_due_its_phases_interval_after_the_last(plan, completed, interval):
    last = datetime.date(2026, 5, 1)
    due = plan.next_due_date(completed_visits=completed, last_visit_on=last, phases=taper(plan))
    assert due == last + datetime.timedelta(days=interval)


def test_a_plan_of_finite_phases_runs_out(plan):
    phases = [MaintenancePhase(plan=plan, order=0, interval_days=7, visits=2)]
    assert plan.next_due_date(completed_visits=2, last_visit_on=START, phases=phases) is None
    plan.refresh_schedule(completed_visits=2, last_visit_on=START, time_zone="UTC", phases=phases)
    assert plan.next_due_on is None and plan.overdue_after is None


def test_overdue_starts_at_midnight_after_the_grace_days_in_the_clinics_zone(plan):
    plan.refresh_schedule(completed_visits=0, last_visit_on=None, time_zone="America/New_York",
                          phases=taper(plan))
    # Due 2 March, 7 grace days: overdue from the start of 10 March, New York time,
    # which is 04:00 UTC: daylight saving time began there on 8 March.
    assert plan.next_due_on == START
    assert plan.overdue_after == datetime.datetime(2026, 3, 10, 4, 0, tzinfo=datetime.UTC)


def test_overdue_moment_follows_the_dst_change(plan):
    # London moves to BST on 29 March 2026: midnight local is 23:00 UTC the evening before.
    before = plan.overdue_moment(datetime.date(2026, 3, 20), "Europe/London")
    after = plan.overdue_moment(datetime.date(2026, 3, 22), "Europe/London")
    assert before == datetime.datetime(2026, 3, 28, 0, 0, tzinfo=datetime.UTC)
    assert after == datetime.datetime(2026, 3, 29, 23, 0, tzinfo=datetime.UTC)
