"""The adherence dashboard's numbers (issue 14, part 4): are a clinic's maintenance patients on
schedule, is that getting better, and does bringing them back work? Pure functions over
querysets returning plain data (dicts, lists, numbers); the page (scheduling/staff/dashboard.py)
draws them. Aggregates only: no function here returns a patient's name or record.

How these are counted (the page says the same under "How these are counted"):

- **Each clinic's own calendar.** A patient's figures are reckoned in their home clinic's zone,
  an appointment's in its clinic's. Weeks run Monday to Sunday on the clinic's calendar and are
  named by their Monday; the 26 weeks shown end with the week that holds today (in the clinic
  furthest ahead, when the clinics shown are on different dates: a week that has not begun in a
  clinic counts nothing of it).
- **Maintenance patient at a moment t**: a maintenance plan that started on or before t's date in
  the clinic and had not ended by then (no ``ended_on``, or ``ended_on`` after that date). A plan
  paused today, or of a patient discharged, is left out of today and of every week: the app
  keeps no record of when a pause began or of when a patient was discharged, so one rule holds
  throughout and this week's point is today's figure (and the flag job, which flags neither,
  agrees with it). A patient with two plans counts once.
- **Off schedule at t**: an overdue-maintenance flag of that patient open at t (raised at or
  before t, not resolved or resolved after t). The hourly flag job is the record of who fell
  off, so today's count is the plans' ``overdue_after <= now`` as of the job's last run.
- **Weekly** figures are measured at the last instant of each week; the week under way now.
- **Overdue today**: the patients off schedule now; days overdue are today minus the plan's next
  due date (as the worklist counts them).
- **Flag to visit**: overdue-maintenance and missed-appointments flags raised in the 26 weeks;
  the patient is back at their first completed maintenance or reintroduction session after the
  flag was raised, and the time is the days between the two dates in the clinic. Those not back
  yet are counted, not timed (the median is of those who came back).
- **Outreach**: messages sent (status "sent", at ``sent_at``) in the 26 weeks, by the cadence's
  step day (a message sent by hand from the worklist has none) and by channel (a call step is a
  call task). The patient came back after a message when the flag's patient completed a
  maintenance or reintroduction session after it was sent and before the flag's next sent message.
- **No-show rate**: no-shows / (completed + no-shows), appointments of every kind, by the week
  they were due to start.
- **Chair utilisation**: minutes of the appointments booked, checked in or completed that start
  on the day (a no-show or a cancellation leaves the chair empty) over the open chair minutes:
  opening hours less closures, in real minutes (wall-clock hours in the clinic's zone), times
  the clinic's chairs in service today (the app keeps no history of a chair's service).
- **Response and remission**: every completed acute course, by protocol, as
  ``patients.outcomes.course_outcome`` reckons them (response: the latest PHQ-9 of the course at
  most half its baseline, a drop of 50% or more; remission: the latest below 5), among the
  courses with a baseline and a later score.

Each function costs a fixed number of queries whatever the number of patients or clinics.
"""

import datetime
import logging
import statistics
from collections import Counter, defaultdict
from itertools import pairwise
from typing import NamedTuple

from django.conf import settings
from django.core.cache import caches
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DurationField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)

from patients.models import Assessment, MaintenancePlan, Patient, PatientFlag, TreatmentCourse
from patients.outcomes import course_outcome

from ..models import Appointment, Chair, Closure, OpeningHours, OutreachMessage
from .calendar import ClinicCalendar, after, day_bounds, midnight

logger = logging.getLogger(__name__)

WEEKS = 26
UTILISATION_DAYS = 28
ONE_DAY = datetime.timedelta(days=1)
ONE_WEEK = datetime.timedelta(days=7)
INSTANT = datetime.timedelta(microseconds=1)
# A return to care: a session of the maintenance schedule, or of a reintroduction course.
RETURN_VISITS = (Appointment.Kind.MAINTENANCE, Appointment.Kind.REINTRODUCTION)
FOLLOW_UP_FLAGS = (PatientFlag.Kind.OVERDUE_MAINTENANCE, PatientFlag.Kind.MISSED_APPOINTMENTS)
# The appointments that took (or take) their chair time.
CHAIR_USED = Appointment.USED


def week_of(day):
    """The Monday of the week holding ``day``."""
    return day - datetime.timedelta(days=day.weekday())


def reporting_weeks(clinics, now):
    """The Mondays of the weeks shown, oldest first, ending with the week that holds today."""
    latest = max(week_of(clinic.local(now).date()) for clinic in clinics)
    return [latest - ONE_WEEK * (WEEKS - 1 - n) for n in range(WEEKS)]


def reporting_days(clinics, now):
    """The dates of the utilisation table, oldest first, ending today."""
    latest = max(clinic.local(now).date() for clinic in clinics)
    return [latest - ONE_DAY * (UTILISATION_DAYS - 1 - n) for n in range(UTILISATION_DAYS)]


def share(part, whole):
    return part / whole if whole else None


def median(values):
    return statistics.median(values) if values else None


def _measured_at(clinic, mondays, now):
    """When each week is measured in the clinic: its last instant, or now for the week under
    way; None for a week that has not begun there. Then now itself, for today."""
    moments = []
    for monday in mondays:
        if midnight(clinic, monday) > now:
            moments.append(None)
        else:
            moments.append(min(after(midnight(clinic, monday + ONE_WEEK), -INSTANT), now))
    return [*moments, now]


def _bits(points, holds):
    """An integer with bit n set for each point n (not None) where ``holds(point)``."""
    return sum(1 << n for n, point in enumerate(points) if point is not None and holds(point))


def on_schedule(clinics, now, mondays):
    """The maintenance patients and those off schedule at the end of each week and now.

    Returns ``{"weekly": [{monday, patients, on_schedule, off_schedule, share}, …], "today":
    {patients, on_schedule, off_schedule, share, overdue, median_days_overdue}}``. Two queries."""
    by_id = {clinic.pk: clinic for clinic in clinics}
    moments = {pk: _measured_at(clinic, mondays, now) for pk, clinic in by_id.items()}
    dates = {pk: [clinic.local(moment).date() if moment else None for moment in moments[pk]]
             for pk, clinic in by_id.items()}
    today = len(mondays)  # the index of "now" among the points
    earliest = min(moment for points in moments.values() for moment in points if moment)
    first_date = min(day for days in dates.values() for day in days if day)
    last_date = max(days[today] for days in dates.values())

    plans = (
        MaintenancePlan.objects.filter(patient__home_clinic__in=clinics, patient__status=Patient.Status.ACTIVE,
                                       started_on__lte=last_date)
        .exclude(status=MaintenancePlan.Status.PAUSED)
        .filter(Q(ended_on__isnull=True) | Q(ended_on__gt=first_date))
        .values_list("patient_id", "patient__home_clinic_id", "started_on", "ended_on", "next_due_on")
    )
    flags = (
        PatientFlag.objects.filter(kind=PatientFlag.Kind.OVERDUE_MAINTENANCE, patient__home_clinic__in=clinics,
                                   raised_at__lte=now)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=earliest))
        .values_list("patient_id", "patient__home_clinic_id", "raised_at", "resolved_at", "due_on")
    )
    kept = defaultdict(int)  # patient: bits of the points at which they were a maintenance patient
    due_on, home = {}, {}
    for patient, clinic, started_on, ended_on, next_due_on in plans:
        bits = _bits(dates[clinic], lambda day, s=started_on, e=ended_on: s <= day and (e is None or e > day))
        kept[patient] |= bits
        home[patient] = clinic
        if bits >> today & 1 and next_due_on is not None:
            due_on[patient] = next_due_on
    off = defaultdict(int)
    for patient, clinic, raised_at, resolved_at, flag_due_on in flags:
        bits = _bits(moments[clinic], lambda t, r=raised_at, s=resolved_at: r <= t and (s is None or s > t))
        off[patient] |= bits
        if bits >> today & 1:
            due_on.setdefault(patient, flag_due_on)

    patients, off_schedule = [0] * (today + 1), [0] * (today + 1)
    overdue_days = []
    for (bits, off_bits), count in Counter((bits, off[patient] & bits) for patient, bits in kept.items()).items():
        for point in range(today + 1):
            patients[point] += count * (bits >> point & 1)
            off_schedule[point] += count * (off_bits >> point & 1)
    for patient, bits in kept.items():
        if (off[patient] & bits) >> today & 1 and due_on.get(patient):
            overdue_days.append((by_id[home[patient]].local(now).date() - due_on[patient]).days)

    def point(n):
        return {"patients": patients[n], "on_schedule": patients[n] - off_schedule[n],
                "off_schedule": off_schedule[n], "share": share(patients[n] - off_schedule[n], patients[n])}

    return {
        "weekly": [{"monday": monday, **point(n)} for n, monday in enumerate(mondays)],
        "today": {**point(today), "overdue": off_schedule[today], "median_days_overdue": median(overdue_days)},
    }


def _window_starts(clinics, mondays):
    """Each clinic's first moment of the weeks shown."""
    return {clinic.pk: midnight(clinic, mondays[0]) for clinic in clinics}


def _returned(patient, after_field, now):
    """Completed return visits of ``patient`` (an outer reference) after the outer ``after_field``."""
    return Appointment.objects.filter(patient=OuterRef(patient), status=Appointment.Status.COMPLETED,
                                      kind__in=RETURN_VISITS, starts_at__gt=OuterRef(after_field), starts_at__lte=now)


def flag_returns(clinics, now, mondays):
    """For overdue and missed-appointments flags raised in the weeks shown: how many, how many
    patients came back for a session, and the median days from the flag to it. One row per kind
    and one for both. One query."""
    by_id = {clinic.pk: clinic for clinic in clinics}
    starts = _window_starts(clinics, mondays)
    next_visit = _returned("patient", "raised_at", now).order_by("starts_at").values("starts_at")[:1]
    rows = (
        PatientFlag.objects.filter(kind__in=FOLLOW_UP_FLAGS, patient__home_clinic__in=clinics,
                                   raised_at__gte=min(starts.values()), raised_at__lte=now)
        .annotate(back_at=Subquery(next_visit))
        .values_list("kind", "patient__home_clinic_id", "raised_at", "back_at")
    )
    flags, days = Counter(), defaultdict(list)
    for kind, clinic_id, raised_at, back_at in rows:
        if raised_at < starts[clinic_id]:
            continue
        flags[kind] += 1
        if back_at is not None:
            clinic = by_id[clinic_id]
            days[kind].append((clinic.local(back_at).date() - clinic.local(raised_at).date()).days)

    def summary(key, label, kinds):
        taken = sum(flags[kind] for kind in kinds)
        timed = [day for kind in kinds for day in days[kind]]
        return {"kind": key, "label": label, "flags": taken, "back": len(timed), "not_back": taken - len(timed),
                "share_back": share(len(timed), taken), "median_days": median(timed)}

    return [
        *(summary(kind.value, kind.label, [kind]) for kind in FOLLOW_UP_FLAGS),
        summary("all", "Both kinds", FOLLOW_UP_FLAGS),
    ]


def outreach_returns(clinics, now, mondays):
    """Outreach messages sent in the weeks shown and how many were followed by the patient's
    return before the flag's next message: by the cadence's step day (None: sent by hand) and by
    channel. One query."""
    starts = _window_starts(clinics, mondays)
    sent = OutreachMessage.objects.filter(status=OutreachMessage.Status.SENT, sent_at__isnull=False)
    next_sent = sent.filter(flag=OuterRef("flag"), sent_at__gt=OuterRef("sent_at")).order_by("sent_at")
    back = _returned("flag__patient", "sent_at", now)
    rows = (
        sent.filter(flag__patient__home_clinic__in=clinics, sent_at__gte=min(starts.values()), sent_at__lte=now)
        .annotate(next_sent_at=Subquery(next_sent.values("sent_at")[:1]))
        .annotate(came_back=Case(
            When(next_sent_at__isnull=True, then=Exists(back)),
            default=Exists(back.filter(starts_at__lt=OuterRef("next_sent_at"))),
            output_field=BooleanField(),
        ))
        .values_list("flag__patient__home_clinic_id", "sent_at", "step_day", "channel", "came_back")
    )
    by_step, by_channel = defaultdict(Counter), defaultdict(Counter)
    for clinic_id, sent_at, step_day, channel, came_back in rows:
        if sent_at < starts[clinic_id]:
            continue
        for tally in (by_step[step_day], by_channel[channel]):
            tally["sent"] += 1
            tally["back"] += bool(came_back)

    def row(tally):
        return {"sent": tally["sent"], "back": tally["back"], "share_back": share(tally["back"], tally["sent"])}

    steps = sorted(by_step, key=lambda day: (day is None, day))
    return {
        "by_step": [{"step_day": day, "label": "Sent by hand" if day is None else f"Day {day}", **row(by_step[day])}
                    for day in steps],
        "by_channel": [{"channel": channel.value, "label": channel.label, **row(by_channel[channel.value])}
                       for channel in OutreachMessage.Channel],
    }


def _spans_case(field, spans, clinics):
    """A CASE giving each row the index of the span its ``field`` falls in, in its clinic's zone
    (``spans``: zone name: [(start, end), …], each span ending where the next begins); None
    outside them all. Each row compares its clinic, then halves the spans: five comparisons
    for 26 weeks, where one WHEN a span took 26."""
    clinic_ids = defaultdict(list)
    for clinic in clinics:
        clinic_ids[clinic.time_zone].append(clinic.pk)

    def index_of(ends, first, last):
        if first == last:
            return Value(first)
        middle = (first + last) // 2
        return Case(When(**{f"{field}__lt": ends[middle]}, then=index_of(ends, first, middle)),
                    default=index_of(ends, middle + 1, last), output_field=IntegerField())

    whens = []
    for zone, bounds in spans.items():
        if any(earlier[1] != later[0] for earlier, later in pairwise(bounds)):
            raise ValueError("Spans must follow one another.")
        ends = [end for _, end in bounds]
        within = Case(When(**{f"{field}__lt": bounds[0][0]}, then=Value(None)),
                      When(**{f"{field}__gte": ends[-1]}, then=Value(None)),
                      default=index_of(ends, 0, len(ends) - 1), output_field=IntegerField())
        whens.append(When(clinic_id__in=clinic_ids[zone], then=within))
    return Case(*whens, default=None, output_field=IntegerField())


def _zones(clinics):
    """One clinic of each zone: their days and weeks begin at the same moments."""
    return {clinic.time_zone: clinic for clinic in clinics}


def no_show_rates(clinics, now, mondays):
    """No-shows and completed appointments by the week they were due to start, in their clinic's
    zone: ``[{monday, completed, no_shows, rate}, …]``. One query."""
    spans = {zone: [(midnight(clinic, monday), midnight(clinic, monday + ONE_WEEK)) for monday in mondays]
             for zone, clinic in _zones(clinics).items()}
    earliest = min(bounds[0][0] for bounds in spans.values())
    counts = Counter()
    rows = (
        Appointment.objects.filter(clinic__in=clinics, starts_at__gte=earliest, starts_at__lte=now,
                                   status__in=(Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW))
        .annotate(week=_spans_case("starts_at", spans, clinics))
        .values_list("week", "status").annotate(n=Count("pk")).order_by()
    )
    for week, status, n in rows:  # week None: outside the weeks shown in its clinic's zone
        counts[week, status] += n
    weeks = []
    for n, monday in enumerate(mondays):
        completed, no_shows = counts[n, Appointment.Status.COMPLETED], counts[n, Appointment.Status.NO_SHOW]
        weeks.append({"monday": monday, "completed": completed, "no_shows": no_shows,
                      "rate": share(no_shows, completed + no_shows)})
    return weeks


class _ReadCalendar(ClinicCalendar):
    """A clinic's calendar from opening hours and closures read for every clinic at once
    (``ClinicCalendar`` reads one clinic's in two queries); its ``open_intervals`` as ever."""

    def __init__(self, clinic, hours, closures):
        self.clinic, self.hours, self.closures = clinic, hours, closures


def chair_utilisation(clinics, now):
    """Each day of the last four weeks (the clinic's calendar days): chair minutes booked or used
    and open chair minutes, summed over the clinics: ``[{day, booked_minutes, open_minutes,
    share}, …]``. Four queries."""
    days = reporting_days(clinics, now)
    first, last = days[0], days[-1]
    hours, closures = defaultdict(lambda: defaultdict(list)), defaultdict(dict)
    for clinic_id, weekday, opens_at, closes_at in (OpeningHours.objects.filter(clinic__in=clinics)
                                                    .order_by("opens_at")
                                                    .values_list("clinic_id", "weekday", "opens_at", "closes_at")):
        hours[clinic_id][weekday].append((opens_at, closes_at))
    for clinic_id, starts_on, ends_on, reason in (Closure.objects.filter(clinic__in=clinics, starts_on__lte=last,
                                                                         ends_on__gte=first)
                                                  .values_list("clinic_id", "starts_on", "ends_on", "reason")):
        day = max(starts_on, first)
        while day <= min(ends_on, last):
            closures[clinic_id][day] = reason
            day += ONE_DAY
    chairs = dict(Chair.objects.filter(clinic__in=clinics, active=True).values_list("clinic_id")
                  .annotate(n=Count("pk")).order_by())
    open_minutes = [0] * len(days)
    for clinic in clinics:
        calendar = _ReadCalendar(clinic, hours[clinic.pk], closures[clinic.pk])
        for n, day in enumerate(days):
            seconds = sum((end - start).total_seconds() for start, end in calendar.open_intervals(day))
            open_minutes[n] += round(seconds / 60) * chairs.get(clinic.pk, 0)

    spans = {zone: [day_bounds(clinic, day) for day in days] for zone, clinic in _zones(clinics).items()}
    booked = [datetime.timedelta(0)] * len(days)
    rows = (
        Appointment.objects.filter(clinic__in=clinics, status__in=CHAIR_USED,
                                   starts_at__gte=min(bounds[0][0] for bounds in spans.values()),
                                   starts_at__lt=max(bounds[-1][1] for bounds in spans.values()))
        .annotate(day=_spans_case("starts_at", spans, clinics))
        .values_list("day").annotate(minutes=Sum(F("ends_at") - F("starts_at"), output_field=DurationField()))
        .order_by()
    )
    for n, minutes in rows:
        if n is not None:  # outside the days shown in its clinic's zone
            booked[n] += minutes
    return [
        {"day": day, "booked_minutes": round(booked[n].total_seconds() / 60), "open_minutes": open_minutes[n],
         "share": share(round(booked[n].total_seconds() / 60), open_minutes[n])}
        for n, day in enumerate(days)
    ]


class EpochSeconds(Func):
    """A moment as whole seconds since 1970 in UTC. Thousands of PHQ-9 times are read here:
    as integers they skip Django's datetime conversion, most of the time it took to read them.
    (Only whole seconds are kept: the clinic's midnight, which dates a score, is one.)"""

    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)",
                           **extra_context)

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="FLOOR(EXTRACT(EPOCH FROM %(expressions)s))::bigint",
                           **extra_context)


class Score(NamedTuple):
    """What ``course_outcome`` reads of an assessment."""

    taken_at: datetime.datetime
    total: int


class CourseDates(NamedTuple):
    """What ``course_outcome`` reads of a course when given its zone."""

    start_date: datetime.date
    ended_on: datetime.date | None


def response_by_protocol(clinics):
    """Every completed acute course of the clinics' patients, by protocol: how many, how many
    with a baseline and a later score (evaluable), responses and remissions among those; then
    the same for all protocols. Two queries, of plain values (no model instances)."""
    zones = {clinic.pk: clinic.time_zone for clinic in clinics}
    courses = (
        TreatmentCourse.objects.filter(kind=TreatmentCourse.Kind.ACUTE, status=TreatmentCourse.Status.COMPLETED,
                                       patient__home_clinic__in=clinics)
        .order_by("protocol__name", "pk")
    )
    scores = defaultdict(list)
    for patient_id, taken_at, total in (Assessment.objects
                                        .filter(instrument=Assessment.Instrument.PHQ9,
                                                patient__in=courses.values("patient_id"))
                                        .order_by()  # course_outcome sorts each patient's own
                                        .values_list("patient_id", EpochSeconds("taken_at"), "total")):
        scores[patient_id].append(Score(datetime.datetime.fromtimestamp(taken_at, datetime.UTC), total))
    tallies = defaultdict(Counter)
    for protocol, patient_id, home_clinic_id, start_date, ended_on in courses.values_list(
            "protocol__name", "patient_id", "patient__home_clinic_id", "start_date", "ended_on"):
        outcome = course_outcome(CourseDates(start_date, ended_on), scores[patient_id], zone=zones[home_clinic_id])
        evaluable = outcome["baseline"] is not None and outcome["latest"] is not None and (
            outcome["latest"] is not outcome["baseline"])
        for key in (protocol, None):
            tally = tallies[key]
            tally["courses"] += 1
            tally["evaluable"] += evaluable
            tally["response"] += outcome["response"]
            tally["remission"] += outcome["remission"]

    def row(key):
        tally = tallies[key]
        return {"protocol": key or "All protocols", "courses": tally["courses"], "evaluable": tally["evaluable"],
                "response": tally["response"], "remission": tally["remission"],
                "response_share": share(tally["response"], tally["evaluable"]),
                "remission_share": share(tally["remission"], tally["evaluable"])}

    return [*(row(name) for name in tallies if name is not None), row(None)]


def dashboard(*, clinics, now):
    """Every figure of the dashboard for ``clinics`` (a list) at ``now``; None without a clinic."""
    clinics = list(clinics)
    if not clinics:
        return None
    mondays = reporting_weeks(clinics, now)
    schedule = on_schedule(clinics, now, mondays)
    return {
        "mondays": mondays,
        "days": reporting_days(clinics, now),
        "today": schedule["today"],
        "on_schedule": schedule["weekly"],
        "returns": flag_returns(clinics, now, mondays),
        "outreach": outreach_returns(clinics, now, mondays),
        "no_shows": no_show_rates(clinics, now, mondays),
        "utilisation": chair_utilisation(clinics, now),
        "response": response_by_protocol(clinics),
    }


# Bumped when the figures' shape changes, so a cache never hands a new page old figures.
FIGURES_VERSION = 1


def shared_dashboard(*, clinics, now):
    """:func:`dashboard`'s figures and the moment they were computed: shared by everyone who reads
    the same clinics within ``TMS_ADHERENCE_MAX_AGE_SECONDS`` (the "figures" cache), since they
    take hundreds of queries' worth of work and are weekly trends. Computed afresh on each read
    when that is 0. Aggregates only (no patient's name or record); the key is the clinics' ids,
    so figures are only ever shown to someone allowed to see every one of those clinics."""
    clinics = list(clinics)
    max_age = settings.TMS_ADHERENCE_MAX_AGE_SECONDS
    if not clinics or not max_age:
        return dashboard(clinics=clinics, now=now), now
    # One key per max_age window: figures are never older than max_age, and no key outlives it.
    window = int(now.timestamp()) // max_age
    ids = ",".join(str(pk) for pk in sorted(clinic.pk for clinic in clinics))
    key = f"adherence:v{FIGURES_VERSION}:{ids}:{window}"
    cache = caches["figures"]
    try:
        shared = cache.get(key)
    except Exception:  # noqa: BLE001 (Redis down: the figures cost time, never the page)
        logger.warning("The figures cache cannot be read: the adherence figures are counted afresh", exc_info=True)
        return dashboard(clinics=clinics, now=now), now
    if shared is None:
        shared = (dashboard(clinics=clinics, now=now), now)
        try:
            cache.set(key, shared, timeout=max_age)
        except Exception:  # noqa: BLE001 (as above)
            logger.warning("The figures cache cannot be written: the adherence figures are not shared", exc_info=True)
    return shared
