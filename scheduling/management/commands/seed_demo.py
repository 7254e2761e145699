"""``manage.py seed_demo``: fill an empty database with a demo chain of clinics that looks alive.

A chain as chains are: about one clinic for every 800 patients (``--clinics`` to choose), each with
4 to 8 chairs, its own staff and its own calendar, in cities across at least five time zones —
one without daylight saving time (Phoenix) and one in the southern hemisphere (Sydney). Patients
are shared out by chairs, so every clinic carries a realistic day: most of its chairs busy most of
the day. A staff user for every role logs in to the first two clinics (and a superuser).

Patients are in every stage of care — acute course under way, maintenance on time, maintenance
overdue, discharged — with their appointments, session records, reminders, outreach and PHQ-9
histories. The chain moved onto this system ``GO_LIVE_DAYS`` ago: courses that began before
then were brought over as the course and its PHQ-9 scores, without their appointments (which is
why a year of history, about 15 appointments a patient, is what 100 000 patients carry).
Dates are reckoned from today in each patient's clinic, so the demo never goes stale; the same
``--seed`` on the same day gives the same data, on SQLite and on PostgreSQL alike.

Fast: rows are built as plain tuples by two processes at once, each the patients of half the
clinics (every clinic draws from a random generator of its own, and the keys are dealt out
between the two, so the data is the same whichever process builds it), and written in bulk by
this one (``scheduling.management.bulk``: ``executemany`` on SQLite, ``COPY`` on PostgreSQL), never
through ``save()``. What ``save()``
would compute — a PHQ-9 total and band, a plan's due dates, a course's days, the reminders a
booking arms — comes from the models' and services' own methods. Appointments never overlap on
a chair or for a patient: each day is cut into lanes and the n-th appointment in a lane takes
the clinic's n-th chair.
"""

import datetime
import operator
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, reset_queries, transaction
from django.utils import timezone

from patients.models import (
    ITEM_FIELDS,
    Assessment,
    CourseTemplate,
    MaintenancePhase,
    MaintenancePlan,
    OutreachAttempt,
    Patient,
    PatientFlag,
    PlanTemplate,
    Protocol,
    TreatmentCourse,
)
from scheduling.management.bulk import BulkLoad, Parts, Table, Values
from scheduling.models import (
    Appointment,
    BookedAt,
    CadenceStep,
    Chair,
    Clinic,
    ClinicMembership,
    Closure,
    OpeningHours,
    OutreachMessage,
    Reminder,
    SessionRecord,
)
from scheduling.services import course_days
from scheduling.services.calendar import ClinicCalendar
from scheduling.services.plans import SYSTEM_RESOLVED, flag_overdue_patients, forget_missed_appointments_mark
from scheduling.services.portal import InviteRefused, open_portal_account
from scheduling.services.reminders import channel_for, reminders_for, usable_channels
from tmsclinic import roles

ONE_DAY = datetime.timedelta(days=1)
# Rows are handed to the database every this many patients: memory stays flat at any size.
PATIENTS_PER_WRITE = 2000
# How many processes build the patients (each the patients of its share of the clinics). The data
# depends on it (keys are dealt out between them), so it is fixed, not the machine's core count.
PARTS = 2
PATIENTS_PER_CLINIC = 800
MIN_CLINICS = 2
# How long ago the chain moved onto this system: appointments start then.
GO_LIVE_DAYS = 365
# Discharged patients finished their course at any time in these last years.
YEARS_OF_PATIENTS = 8


@dataclass(frozen=True)
class City:
    name: str
    time_zone: str
    country: str
    first_clinic: str  # the name of the chain's first clinic in the city
    street: str
    phone: str
    # (prefix, first, how many): numbers set aside for fiction that phonenumbers accepts.
    patient_phones: tuple

    def patient_phone(self, number):
        prefix, first, count = self.patient_phones
        return f"{prefix}{first + number % count:04d}"


# The first two are the demo's first two clinics (their names are in the docs and the tests).
# Telephone numbers are from the ranges set aside for drama: NANPA's 555-0100…0199, Ofcom's
# 020 7946 0xxx and 0161 496 0xxx, ACMA's 02 5550 xxxx and 03 7010 xxxx.
CITIES = (
    City("New York", "America/New_York", "US", "Riverside", "200 Riverside Drive\nNew York, NY 10025",
         "+12125550100", ("+1212555", 101, 99)),
    City("London", "Europe/London", "GB", "Thames", "12 Bankside\nLondon SE1 9JE",
         "+442079460000", ("+44207946", 1, 999)),
    City("Phoenix", "America/Phoenix", "US", "Camelback", "2400 E Camelback Road\nPhoenix, AZ 85016",
         "+16025550100", ("+1602555", 101, 99)),
    City("Sydney", "Australia/Sydney", "AU", "Harbour", "45 Macquarie Street\nSydney NSW 2000",
         "+61255500000", ("+6125550", 1, 9999)),
    City("Chicago", "America/Chicago", "US", "Lakeshore", "680 N Lake Shore Drive\nChicago, IL 60611",
         "+13125550100", ("+1312555", 101, 99)),
    City("Los Angeles", "America/Los_Angeles", "US", "Sunset", "8600 Sunset Boulevard\nLos Angeles, CA 90069",
         "+12135550100", ("+1213555", 101, 99)),
    City("Denver", "America/Denver", "US", "Cherry Creek", "100 Fillmore Street\nDenver, CO 80206",
         "+13035550100", ("+1303555", 101, 99)),
    City("Manchester", "Europe/London", "GB", "Deansgate", "300 Deansgate\nManchester M3 4LQ",
         "+441614960000", ("+44161496", 1, 999)),
    City("Melbourne", "Australia/Melbourne", "AU", "Southbank", "1 City Road\nSouthbank VIC 3006",
         "+61370100000", ("+6137010", 1, 9999)),
    City("Boston", "America/New_York", "US", "Back Bay", "500 Boylston Street\nBoston, MA 02116",
         "+16175550100", ("+1617555", 101, 99)),
    City("Houston", "America/Chicago", "US", "Heights", "1100 Heights Boulevard\nHouston, TX 77008",
         "+17135550100", ("+1713555", 101, 99)),
    City("Seattle", "America/Los_Angeles", "US", "Capitol Hill", "1500 E Pine Street\nSeattle, WA 98122",
         "+12065550100", ("+1206555", 101, 99)),
)
# Fixed-date public holidays only: the demo needs closures, not a full holiday calendar.
HOLIDAYS = {
    "US": ((1, 1, "New Year's Day"), (7, 4, "Independence Day"), (12, 25, "Christmas Day")),
    "GB": ((1, 1, "New Year's Day"), (12, 25, "Christmas Day"), (12, 26, "Boxing Day")),
    "AU": ((1, 1, "New Year's Day"), (1, 26, "Australia Day"), (4, 25, "Anzac Day"), (12, 25, "Christmas Day"),
           (12, 26, "Boxing Day")),
}
# A split day: closed for lunch.
WEEKDAY_HOURS = ((datetime.time(8), datetime.time(12, 30)), (datetime.time(13, 30), datetime.time(18)))
SATURDAY_HOURS = ((datetime.time(8), datetime.time(12, 30)),)
CHAIR_DEVICE = {"device_model": "MagVenture MagPro R30", "coil": "Cool-B65 figure-of-eight"}
FIRST_CLINIC_CHAIRS = 8
CHAIRS = (4, 8)

# CLINICAL.md. Clinics edit these in admin; the seed only adds the ones that are missing.
PROTOCOLS = (
    {"name": "10 Hz rTMS", "pattern": Protocol.Pattern.RTMS_10HZ, "pulses_per_session": 3000,
     "session_minutes": 38, "chair_minutes": 45, "intensity_percent_mt": 120},
    {"name": "iTBS", "pattern": Protocol.Pattern.ITBS, "pulses_per_session": 600,
     "session_minutes": 3, "chair_minutes": 10, "intensity_percent_mt": 120},
    {"name": "Accelerated iTBS (SAINT)", "pattern": Protocol.Pattern.ITBS, "pulses_per_session": 1800,
     "session_minutes": 10, "chair_minutes": 15, "intensity_percent_mt": 90,
     "sessions_per_day": 10, "minutes_between_sessions": 50},
    {"name": "Deep TMS (H1)", "pattern": Protocol.Pattern.DEEP_TMS, "target": "Left DLPFC (H1 coil)",
     "pulses_per_session": 1980, "session_minutes": 20, "chair_minutes": 30, "intensity_percent_mt": 120},
    {"name": "1 Hz rTMS", "pattern": Protocol.Pattern.RTMS_1HZ, "target": "Right DLPFC",
     "pulses_per_session": 1200, "session_minutes": 20, "chair_minutes": 30, "intensity_percent_mt": 110},
)
# Demo patients get the protocols the figure-of-eight chairs deliver, one a day; SAINT and
# deep TMS are there for staff to book.
PATIENT_PROTOCOLS = {"10 Hz rTMS": 6, "iTBS": 3, "1 Hz rTMS": 1}

ACUTE = "acute course in progress"
ON_TIME = "maintenance on time"
OVERDUE = "maintenance overdue"
DISCHARGED = "discharged"
# A clinic of 800 patients on file treats about 25 acute courses at a time and keeps about 110
# patients on maintenance; most patients on file finished their care, many of them years ago.
STAGE_WEIGHTS = {ACUTE: 3, ON_TIME: 10, OVERDUE: 4, DISCHARGED: 83}

# Weekly for a month, every 2 weeks for 2 months, then monthly (a data migration creates it).
PLAN_TEMPLATE = "Taper to monthly"
NEXT_VISIT_BOOKED_RATE = 0.7
SELF_HARM_ANSWER_RATE = 0.02
SIDE_EFFECT_RATE = 0.1
# Maintenance visits that did not happen on the day first booked: the patient did not come
# (a no-show) or called to cancel, and came a few days later. Patients who lapsed often
# missed their last booked visit before they stopped coming.
VISIT_NO_SHOW_RATE = 0.04
VISIT_CANCEL_RATE = 0.03
LAPSED_NO_SHOW_RATE = 0.5
# Maintenance visits that came late, past the grace days: the patient lapsed, was flagged and
# sent the outreach cadence, and came back (issue 14's history: the dashboard's returns).
LATE_VISIT_RATE = 0.06
RETURNED_FROM_LINK_RATE = 0.4
CALL_OUTCOMES = (OutreachAttempt.Outcome.REACHED, OutreachAttempt.Outcome.VOICEMAIL, OutreachAttempt.Outcome.NO_ANSWER)
ATTENDED = (Appointment.Status.CHECKED_IN, Appointment.Status.COMPLETED)
SIDE_EFFECTS = (
    "Mild scalp discomfort under the coil",
    "Headache afterwards, eased with paracetamol",
    "Facial twitching during trains",
)
# The delivery log's history: the reminders of each patient's latest sessions, sent on time,
# as if booked a week ahead: demo sessions are booked days or weeks ahead, before either
# reminder is due, so only consent and quiet hours decide what was armed.
REMINDED_PAST_SESSIONS = 1
BOOKED_AHEAD = datetime.timedelta(days=7)

# Who pays, spread over the demo's patients (the billing export's second key).
PAYERS = ("Aetna", "Blue Cross Blue Shield", "Medicare", "UnitedHealthcare", "Self-pay")

# username, first name, last name, role, Django admin access: they log in to the first two clinics.
STAFF = (
    ("frontdesk", "Maria", "Lopez", roles.FRONT_DESK, False),
    ("technician", "Sam", "Patel", roles.TECHNICIAN, False),
    ("clinician", "Helen", "Okafor", roles.CLINICIAN, False),
    ("clinicadmin", "Jordan", "Reyes", roles.CLINIC_ADMIN, True),
)
SUPERUSER = "admin"
# Every clinic's own team (no password: the demo logins above are the ones to use).
CLINIC_TEAM = (("frontdesk", roles.FRONT_DESK), ("technician", roles.TECHNICIAN), ("clinician", roles.CLINICIAN))

FIRST_NAMES = (
    "Aisha", "Ben", "Carmen", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "James",
    "Kemi", "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Samir", "Tara",
    "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Anna", "Marcus", "Priya", "Tom",
)
LAST_NAMES = (
    "Adams", "Brown", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova", "Jones",
    "Khan", "Lee", "Martin", "Nguyen", "Okoro", "Patel", "Quinn", "Rossi", "Smith", "Taylor",
    "Usman", "Valdez", "Walsh", "Xu", "Young", "Zimmer", "Murphy", "Kowalski", "Silva", "Ali",
)

APPOINTMENT_FIELDS = ["id", "uuid", "patient_id", "clinic_id", "chair_id", "technician_id", "kind", "course_id",
                      "plan_id", "starts_at", "ends_at", "status", "booked_via", "booked_after_lapse", "booked_by_id",
                      "cancel_reason", "cancelled_at", "checked_in_at", "updated_at"]
CHAIR, STARTS, VIA, AFTER_LAPSE, BOOKED_BY = 4, 9, 12, 13, 14  # positions in an appointment's row
SESSION_FIELDS = ["id", "appointment_id", "pulses_delivered", "intensity_percent_mt", "motor_threshold",
                  "mt_measured", "cpt_code", "coil_position", "side_effects", "operator_id", "recorded_at"]
PATIENT_FIELDS = ["id", "uuid", "mrn", "first_name", "last_name", "date_of_birth", "email", "phone", "home_clinic_id",
                  "preferred_channel", "payer", "email_consent", "email_consent_at", "sms_consent", "sms_consent_at",
                  "primary_clinician_id", "status"]
ASSESSMENT_FIELDS = ["id", "patient_id", *ITEM_FIELDS, "difficulty", "total", "band", "taken_at", "entered_by_id"]


@dataclass
class Booked:
    """What the builder remembers of an appointment it wrote (its row is written as it is)."""

    pk: int
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    status: str
    row: list


class ClinicSeating:
    """When one clinic is open, and which chair takes each appointment.

    Every open day is cut into lanes as long as the longest chair booking. The n-th
    appointment put in a lane on a date takes the clinic's n-th chair, so no chair is ever
    double-booked. A full lane sends the visit to the day's least busy lane; only a clinic given
    more patients than its chairs can treat (``--clinics`` too small) gets a chair more.
    """

    def __init__(self, clinic, *, city, team, lane_minutes, now, chair_rows):
        self.clinic = clinic
        self.chair_rows = chair_rows
        self.city = city
        self.team = team
        self.today = clinic.local(now).date()
        self.go_live = self.today - GO_LIVE_DAYS * ONE_DAY
        lanes = defaultdict(list)
        step = datetime.timedelta(minutes=lane_minutes)
        for hours in clinic.opening_hours.all():
            start = datetime.datetime.combine(self.today, hours.opens_at)
            while start + step <= datetime.datetime.combine(self.today, hours.closes_at):
                lanes[hours.weekday].append(start.time())
                start += step
        if not any(lanes.get(weekday) for weekday in range(5)):
            raise CommandError(
                f"{clinic} has no weekday opening hours with room for a {lane_minutes}-minute "
                "session; add some in admin or rename the clinic."
            )
        self.lanes = {weekday: sorted(times) for weekday, times in lanes.items()}
        # Courses run up to ten weeks past today; the calendar covers the whole history.
        self.calendar = ClinicCalendar(clinic, self.go_live - 14 * ONE_DAY, self.today + 90 * ONE_DAY)
        self.closed = set(self.calendar.closures)
        every_chair = list(clinic.chairs.order_by("pk"))
        self.chairs = [chair for chair in every_chair if chair.active]
        self.chair_count = len(every_chair)
        self.chairs_added = 0
        self.taken = Counter()
        self.treatment_days = {}
        self.offsets = {}

    def at(self, day, time):
        return datetime.datetime.combine(day, time, tzinfo=self.clinic.tz).astimezone(datetime.UTC)

    def is_open(self, day):
        return day.weekday() in self.lanes and day not in self.closed

    def free_on_or_after(self, day):
        """The first open day from ``day`` with a chair free at some time: where a full clinic
        books a visit."""
        chairs = len(self.chairs)
        while not (self.is_open(day) and any(self.taken[day, time] < chairs for time in self.lanes[day.weekday()])):
            day += ONE_DAY
        return day

    def weekday_open_on_or_after(self, day):
        # Acute courses run Monday to Friday, whatever the clinic does on Saturdays.
        while day.weekday() >= 5 or not self.is_open(day):
            day += ONE_DAY
        return day

    def course_days(self, template, first_day):
        """What ``scheduling.services.course_days`` gives, asked once per day: every course
        that starts on the same day is laid out alike."""
        if (template.pk, first_day) not in self.treatment_days:
            self.treatment_days[template.pk, first_day], _ = course_days(
                clinic=self.clinic, template=template, first_day=first_day, calendar=self.calendar
            )
        return self.treatment_days[template.pk, first_day]

    def seat(self, day, lane=None):
        """A chair and a start time on ``day``: in ``lane`` while it has a free chair, else in
        the day's least busy lane."""
        if lane is None or self.taken[day, lane] >= len(self.chairs):
            # The least busy lane; among equals, any (not always the first of the day).
            rng = self.rng
            lane = min(self.lanes[day.weekday()], key=lambda time: (self.taken[day, time], rng.random()))
        index = self.taken[day, lane]
        self.taken[day, lane] += 1
        return self._chair(index), day, lane

    def has_room(self, days):
        """Whether one time of day has a chair free on every one of ``days``."""
        chairs = len(self.chairs)
        return any(all(self.taken[day, time] < chairs for day in days) for time in self.lanes[days[0].weekday()])

    def seat_series(self, days):
        """Seats for a course: the same time every day, in the lane that is least busy over
        the whole course."""
        rng = self.rng
        usual = min(self.lanes[days[0].weekday()],
                    key=lambda time: (max(self.taken[day, time] for day in days), rng.random()))
        return [self.seat(day, usual if usual in self.lanes[day.weekday()] else None) for day in days]

    def moment(self, day, lane, minutes):
        """(start, end) of a visit in UTC: the day's offset from UTC is looked up once (opening
        hours never span a clock change, which happens at night)."""
        offset = self.offsets.get(day)
        if offset is None:
            offset = self.offsets[day] = self.at(day, lane).replace(tzinfo=None) - datetime.datetime.combine(day, lane)
        starts = datetime.datetime.combine(day, lane, tzinfo=datetime.UTC) + offset
        return starts, starts + datetime.timedelta(minutes=minutes)

    def _chair(self, index):
        while index >= len(self.chairs):
            # Written with the rows (a process that builds them may not query).
            self.chair_count += 1
            chair = Chair(pk=self.chair_rows.pk(), clinic=self.clinic, name=f"Chair {self.chair_count}", **CHAIR_DEVICE)
            self.chair_rows.add_instance(chair)
            self.chairs.append(chair)
            self.chairs_added += 1
        return self.chairs[index]


class DemoBuilder:
    """Builds each patient's history as rows, and writes them in bulk."""

    def __init__(self, *, rng, now, clinics, protocols, course_template, plan_template, staff, values):
        self.rng = self.chain_rng = rng
        self.now = now
        self.values = values
        self.clinics = clinics
        # Patients are shared out in proportion to each clinic's chairs, in a fixed shuffled order.
        self.clinic_turns = [seating for seating in clinics for _ in seating.chairs]
        random.Random(rng.random()).shuffle(self.clinic_turns)
        # Each clinic draws its patients from a generator of its own: a clinic's patients are the
        # same whichever process builds them, and whatever the other clinics draw.
        for seating in clinics:
            seating.rng = random.Random(rng.getrandbits(64))
        # The clinics shared out between the processes that build (PARTS), evened out by chairs.
        self.part_of, load = {}, [0] * PARTS
        for seating in clinics:
            part = load.index(min(load))
            self.part_of[seating.clinic.pk] = part
            load[part] += len(seating.chairs)
        self.protocols = [protocols[name] for name in PATIENT_PROTOCOLS]
        self.course_template = course_template
        self.plan_template = plan_template
        self.plan_phases = list(plan_template.phases.all())
        self.staff = staff
        self.cadences = cadence_steps()
        self.no_show_recorded = datetime.timedelta(minutes=settings.TMS_AUTO_NO_SHOW_MINUTES)
        table = lambda model, fields=None, order=None: Table(model, values, now=now, fields=fields,  # noqa: E731
                                                              order=order)
        # In the order the foreign keys need them written.
        self.chairs = clinics[0].chair_rows if clinics else table(Chair)
        self.patients = table(Patient, PATIENT_FIELDS)
        self.courses = table(TreatmentCourse)
        self.plans = table(MaintenancePlan)
        self.phases = table(MaintenancePhase)
        # Each batch written in chair and time order: putting the constraints against double-booking
        # back checks each row in the order written, and neighbours find the index's pages at hand.
        self.appointments = table(Appointment, APPOINTMENT_FIELDS, order=operator.itemgetter(CHAIR, STARTS))
        self.session_records = table(SessionRecord, SESSION_FIELDS)
        self.assessments = table(Assessment, ASSESSMENT_FIELDS)
        self.flags = table(PatientFlag)
        self.reminders = table(Reminder)
        self.outreach = table(OutreachMessage)
        self.attempts = table(OutreachAttempt)
        self.tables = [self.chairs, self.patients, self.courses, self.plans, self.phases, self.appointments,
                       self.session_records, self.assessments, self.flags, self.reminders, self.outreach, self.attempts]
        self.stages = Counter()
        self.imported_courses = 0

    @property
    def models(self):
        return [table.model for table in self.tables]

    def write(self):
        for table in self.tables:
            table.flush()
        # With DEBUG on, Django keeps the SQL of the last 9000 queries.
        reset_queries()

    def build(self, patients, *, in_processes=True, progress=None):
        """Every patient's rows, built in PARTS processes (each the patients of its clinics) and
        written by this one as they come; ``progress(n)`` hears of each n patients built."""
        parts = Parts(self.tables, PARTS, in_processes=in_processes)
        self.built_in_processes = parts.in_processes
        results = parts.run(lambda part, send: self._build_part(part, patients, send), progress=progress)
        self.rng = self.chain_rng  # what comes after the patients draws from the chain's generator
        self.stages = sum((result["stages"] for result in results), Counter())
        self.imported_courses = sum(result["imported"] for result in results)
        by_pk = {seating.clinic.pk: seating for seating in self.clinics}
        for result in results:
            for clinic_pk, (chairs, chair_count, added) in result["chairs"].items():
                seating = by_pk[clinic_pk]
                seating.chairs, seating.chair_count, seating.chairs_added = chairs, chair_count, added

    def _build_part(self, part, patients, send):
        """The patients of the clinics of one part, in number order; what the parent needs to
        know of them afterwards."""
        self.stages, self.imported_courses, built = Counter(), 0, 0
        for number in range(1, patients + 1):
            seating, _ = self._seating(number - 1)
            if self.part_of[seating.clinic.pk] != part:
                continue
            self.add_patient(number)
            built += 1
            if built % PATIENTS_PER_WRITE == 0:
                send(PATIENTS_PER_WRITE)
        send(built % PATIENTS_PER_WRITE)
        return {"stages": self.stages, "imported": self.imported_courses,
                "chairs": {seating.clinic.pk: (seating.chairs, seating.chair_count, seating.chairs_added)
                           for seating in self.clinics if self.part_of[seating.clinic.pk] == part}}

    def _seating(self, index):
        """The clinic of the index-th patient, and their stage if it is set by turn (else None).
        The first patients take each stage in turn in every clinic, so even a tiny demo shows
        them all."""
        stages = list(STAGE_WEIGHTS)
        if index < len(stages) * len(self.clinics):
            return self.clinics[index % len(self.clinics)], stages[index // len(self.clinics)]
        return self.clinic_turns[index % len(self.clinic_turns)], None

    def written(self, model):
        return next(table.written for table in self.tables if table.model is model)

    def add_patient(self, number):
        seating, stage = self._seating(number - 1)
        self.rng = rng = seating.rng
        forced = stage is not None
        if not forced:
            stage = rng.choices(list(STAGE_WEIGHTS), weights=STAGE_WEIGHTS.values())[0]
        self.stages[stage] += 1
        protocol = rng.choices(self.protocols, weights=PATIENT_PROTOCOLS.values())[0]
        booked = []  # this patient's appointments

        course_start, earliest, latest, visits_stopped = self._timeline(stage, seating.today, first_round=forced)
        # As staff book a course: a mapping visit, then treatment from the next day on.
        imported = course_start < seating.go_live
        if imported:
            mapping_day = seating.weekday_open_on_or_after(course_start)
            treatment_days = self._imported_days(mapping_day)
        else:
            mapping_day, *treatment_days = self._course_days(seating, course_start, earliest, latest)
        intake_at = seating.at(mapping_day - 7 * ONE_DAY, datetime.time(10))
        patient = self._patient(number, seating, stage, intake_at)
        course = self._course(patient, protocol, mapping_day, treatment_days, in_progress=stage == ACUTE,
                              seating=seating)

        baseline = rng.randint(18, 24)
        if stage == DISCHARGED:
            final = rng.randint(1, 6)
        else:
            final = rng.randint(3, 9) if rng.random() < 0.7 else rng.randint(10, 15)
        self._phq9(patient, intake_at, baseline, seating, at_intake=True)

        if imported:
            # Brought over from the chain's old system: the course and its scores, no appointments.
            self.imported_courses += 1
            last = len(treatment_days) - 1
            for done, day in enumerate(treatment_days):
                if done % 10 == 0 or done == last:
                    self._phq9(patient, seating.at(day, datetime.time(10)),
                               baseline + (final - baseline) * done / last, seating)
        else:
            mapping_seat, *treatment_seats = seating.seat_series([mapping_day, *treatment_days])
            mapping = self._appointment(booked, patient, seating, mapping_seat, Appointment.Kind.MAPPING, protocol,
                                        self.course_template.mapping_minutes, course=course,
                                        motor_threshold=course.motor_threshold, mt_measured=True)
            if mapping.status != Appointment.Status.COMPLETED:
                course.motor_threshold = None  # measured at the mapping visit, still to come
            # The MT is re-measured every fifth session (TMS_MT_RECHECK_EVERY's default).
            sessions = [
                self._appointment(booked, patient, seating, seat, Appointment.Kind.ACUTE, protocol,
                                  protocol.chair_minutes, course=course, motor_threshold=course.motor_threshold,
                                  mt_measured=n % 5 == 4)
                for n, seat in enumerate(treatment_seats)
            ]
            # PHQ-9 at every tenth session and the last, sliding from baseline to this patient's outcome.
            last = len(sessions) - 1
            for done, session in enumerate(sessions):
                if session.status == Appointment.Status.COMPLETED and (done % 10 == 0 or done == last):
                    self._phq9(patient, session.starts_at, baseline + (final - baseline) * done / last, seating)

        if visits_stopped:
            self._maintenance(booked, patient, seating, protocol, course, visits_stopped,
                              book_next=stage == ON_TIME and rng.random() < NEXT_VISIT_BOOKED_RATE,
                              lapsed=stage == OVERDUE,
                              phq9_total=final)
        # Written after the visits, which may change the course's MT.
        self._write_patient(patient)
        self.courses.add_instance(course)
        # Missed visits are written before the visits themselves: order by time.
        begun = sorted((visit for visit in booked
                        if visit.status not in (Appointment.Status.BOOKED, Appointment.Status.CANCELLED)),
                       key=lambda visit: visit.starts_at)
        for visit in begun[-REMINDED_PAST_SESSIONS:]:
            self._sent_reminders(visit, patient, seating)
        for visit in booked:
            if visit.status == Appointment.Status.BOOKED:
                # The reminders booking it now would write; the worker sends each when it falls due.
                self._reminders(reminders_for(self._instance(visit, patient, seating), self.now))

    def _timeline(self, stage, today, *, first_round=False):
        """When the acute course started, the earliest and latest days it could have started
        (where a busy clinic may move it), and, for maintenance patients, the day from which
        they started no more visits (today for those still coming). A first-round acute patient
        is in the weeks of daily sessions, so that even a tiny demo has someone in the chair today."""
        rng = self.rng
        weeks = self.course_template.days_per_week
        course_weeks = len(weeks)
        go_live = today - GO_LIVE_DAYS * ONE_DAY
        if stage == ACUTE:
            if first_round:
                course_weeks = next((n for n, days in enumerate(weeks) if days < 5), course_weeks)
            # Its last week begins 7 × (weeks − 1) + 1 days after mapping, so sessions remain.
            earliest = today - 7 * (course_weeks - 1) * ONE_DAY
            return today - rng.randint(0, 7 * (course_weeks - 1)) * ONE_DAY, earliest, today, None
        course = 7 * (course_weeks + 1)
        if stage == DISCHARGED:
            latest = today - (course + 14) * ONE_DAY
            return today - (course + rng.randint(14, YEARS_OF_PATIENTS * 365)) * ONE_DAY, go_live, latest, None
        if stage == ON_TIME:
            # Since the chain moved onto the system: the whole plan is here.
            latest = today - (course + 14) * ONE_DAY
            return today - (course + rng.randint(14, GO_LIVE_DAYS - course - 30)) * ONE_DAY, go_live, latest, today
        # Past the longest interval after the last visit, and the grace days after that.
        lapse = max(phase.interval_days for phase in self.plan_phases) + self.plan_template.grace_days + 1
        stopped = today - (lapse + rng.randint(1, 100)) * ONE_DAY
        room = (stopped - go_live).days - course - 30
        latest = stopped - (course + 14) * ONE_DAY
        return stopped - (course + rng.randint(14, max(14, room))) * ONE_DAY, go_live, latest, stopped

    def _course_days(self, seating, course_start, earliest, latest):
        """The mapping day and treatment days of a course from about ``course_start``: where the
        clinic has no chair free at one time of day all through it, a week or a few earlier or
        later (within ``earliest``…``latest``), as a busy clinic's front desk would book it."""
        first = None
        for weeks in (0, -1, 1, -2, 2, -3, 3, -4, 4, -6, 6, -8, 8):
            start = course_start + 7 * weeks * ONE_DAY
            if not earliest <= start <= latest:
                continue
            mapping_day = seating.weekday_open_on_or_after(start)
            days = [mapping_day, *seating.course_days(self.course_template, first_day=mapping_day + ONE_DAY)]
            if seating.has_room(days):
                return days
            first = first or days
        if first is None:  # no week within the bounds: as drawn
            mapping_day = seating.weekday_open_on_or_after(course_start)
            first = [mapping_day, *seating.course_days(self.course_template, first_day=mapping_day + ONE_DAY)]
        return first

    def _imported_days(self, mapping_day):
        """The session days of a course brought over from the old system (the PHQ-9s' dates):
        the template's days in each week from the day after mapping."""
        days = []
        for week, wanted in enumerate(self.course_template.days_per_week):
            monday = mapping_day + ONE_DAY + (7 * week - (mapping_day + ONE_DAY).weekday()) * ONE_DAY
            days.extend(monday + n * ONE_DAY for n in range(min(wanted, 5)))
        return days

    def _uuid(self):
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _uuid_hex(self):
        """``self._uuid().hex``, without the UUID object: the version-4 bits set by hand."""
        value = self.rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48)
        return f"{value:032x}"

    def _patient(self, number, seating, stage, intake_at):
        rng = self.rng
        phone = "" if rng.random() < 0.1 else seating.city.patient_phone(number)
        email_consent = rng.random() < 0.9
        sms_consent = bool(phone) and rng.random() < 0.6
        patient = Patient(
            pk=self.patients.pk(),
            uuid=self._uuid(),
            mrn=f"D{number:06d}",
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            date_of_birth=seating.today - rng.randint(19 * 365, 80 * 365) * ONE_DAY,
            email=f"patient.{number:06d}@example.org",
            home_clinic=seating.clinic,
            preferred_channel=(
                Patient.Channel.SMS if sms_consent and rng.random() < 0.5 else Patient.Channel.EMAIL
            ),
            email_consent=email_consent,
            email_consent_at=intake_at if email_consent else None,
            sms_consent=sms_consent,
            sms_consent_at=intake_at if sms_consent else None,
            primary_clinician=seating.team[roles.CLINICIAN] if rng.random() < 0.2 else None,
            payer=PAYERS[number % len(PAYERS)],
            status=Patient.Status.DISCHARGED if stage == DISCHARGED else Patient.Status.ACTIVE,
        )
        # The number as stored (E.164), kept as text: the model field's PhoneNumber would be read
        # and validated by phonenumbers each time the reminders ask whether there is a number.
        patient.__dict__["phone"] = patient.phone_text = phone
        return patient

    def _write_patient(self, patient):
        moment, null = self.values.datetime, self.values.NULL
        self.patients.add(
            patient.pk, patient.uuid.hex, patient.mrn, patient.first_name, patient.last_name,
            patient.date_of_birth.isoformat(), patient.email, patient.phone_text, patient.home_clinic_id,
            patient.preferred_channel, patient.payer, int(patient.email_consent),
            moment(patient.email_consent_at) if patient.email_consent_at else null, int(patient.sms_consent),
            moment(patient.sms_consent_at) if patient.sms_consent_at else null,
            patient.primary_clinician_id or null, patient.status)

    def _course(self, patient, protocol, mapping_day, treatment_days, *, in_progress, seating):
        sessions = self.course_template.sessions_for(protocol)
        return TreatmentCourse(
            pk=self.courses.pk(),
            patient=patient,
            protocol=protocol,
            kind=TreatmentCourse.Kind.ACUTE,
            start_date=mapping_day,
            planned_sessions=sessions,
            motor_threshold=self.rng.randint(40, 75),
            status=TreatmentCourse.Status.ACTIVE if in_progress else TreatmentCourse.Status.COMPLETED,
            prior_auth_number=f"PA{self.rng.randint(10**7, 10**8 - 1)}",
            authorised_sessions=sessions,
            clinician=seating.team[roles.CLINICIAN],
            ended_on=None if in_progress else treatment_days[-1],
        )

    def _maintenance(self, booked, patient, seating, protocol, course, stopped, *, book_next, lapsed, phq9_total):
        """An active plan from a week after the course, with the visits begun before
        ``stopped`` (and maybe the next one booked), some first booked on a day the patient
        missed or cancelled, and the due dates the plan's rule gives."""
        template = self.plan_template
        plan = MaintenancePlan(
            pk=self.plans.pk(),
            patient=patient,
            protocol=protocol,
            source_course=course,
            template=template,
            status=MaintenancePlan.Status.ACTIVE,
            started_on=course.ended_on + 7 * ONE_DAY,
            grace_days=template.grace_days,
        )
        phases = [
            MaintenancePhase(pk=self.phases.pk(), plan=plan, order=order, interval_days=phase.interval_days,
                             sessions_per_visit=phase.sessions_per_visit, visits=phase.visits)
            for order, phase in enumerate(self.plan_phases)
        ]

        visits, dues, late = [], [], set()
        due = plan.started_on
        while (phase := plan.phase_for_visit(len(visits), phases)) is not None:
            # Patients come up to a day early or two days late; a closed day moves the visit
            # on; a cluster visit's sessions fall on consecutive open days. Now and then one
            # comes weeks late, past the grace days: a lapse the outreach cadence followed.
            first = due + self.rng.randint(-1, 2) * ONE_DAY
            if visits and self.rng.random() < LATE_VISIT_RATE:
                first = due + (plan.grace_days + self.rng.randint(2, 21)) * ONE_DAY
                late.add(len(visits))
            if visits:
                first = max(first, visits[-1][-1] + ONE_DAY)
            first = self._missed_visit(booked, patient, seating, protocol, plan, first, stopped=stopped, lapsed=lapsed)
            visit = [seating.free_on_or_after(first)]
            while len(visit) < phase.sessions_per_visit:
                visit.append(seating.free_on_or_after(visit[-1] + ONE_DAY))
            dues.append(due)
            if visit[0] >= stopped:
                if book_next:
                    visits.append(visit)
                break
            visits.append(visit)
            due = plan.next_due_date(completed_visits=len(visits), last_visit_on=visit[0], phases=phases)

        completed_days = []
        for number, visit in enumerate(visits):
            for session_number, day in enumerate(visit):
                session = self._appointment(booked, patient, seating, seating.seat(day), Appointment.Kind.MAINTENANCE,
                                            protocol, protocol.chair_minutes, plan=plan,
                                            motor_threshold=course.motor_threshold,
                                            mt_measured=session_number == 0)
                if session.status == Appointment.Status.COMPLETED:
                    completed_days.append(day)
                    if session_number == 0:
                        self._phq9(patient, session.starts_at, phq9_total, seating)
                        if number in late and visit[0] > dues[number] + plan.grace_days * ONE_DAY:
                            self._lapse(patient, seating, plan, dues[number], session)
        # What scheduling.services.plans.refresh_plan computes from the completed sessions.
        completed_visits, last_visit_on = plan.visits_from_sessions(completed_days, phases)
        plan.refresh_schedule(completed_visits=completed_visits, last_visit_on=last_visit_on,
                              time_zone=seating.clinic.time_zone, phases=phases)
        self.plans.add_instance(plan)
        for phase in phases:
            self.phases.add_instance(phase)

    def _lapse(self, patient, seating, plan, due, returned):
        """The overdue flag the hourly job raised the night the grace days ran out, the cadence's
        messages until the patient came back (``returned``, a completed session), and the flag
        resolved by the system at that visit."""
        raised_at = seating.at(due + (plan.grace_days + 1) * ONE_DAY, datetime.time(1))
        if raised_at >= returned.starts_at:
            return
        flag = PatientFlag(pk=self.flags.pk(), patient=patient, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE, plan=plan,
                           due_on=due, raised_at=raised_at, resolved_at=returned.starts_at,
                           resolution_note=SYSTEM_RESOLVED)
        self.flags.add_instance(flag)
        sent = self.outreach_history(flag, seating, until=returned.starts_at)
        if sent and self.rng.random() < RETURNED_FROM_LINK_RATE:
            last = sent[-1]
            if last.channel != OutreachMessage.Channel.CALL:
                # Booked from the link in the last message.
                last.appointment_id, last.link_opened_at = returned.pk, last.sent_at + datetime.timedelta(hours=1)
                returned.row[VIA], returned.row[AFTER_LAPSE] = Appointment.Via.PORTAL, 1
                returned.row[BOOKED_BY] = self.values.NULL
        for row in sent:
            self.outreach.add_instance(row)

    def outreach_history(self, flag, seating, *, until):
        """The default cadence's steps a flag raised at ``flag.raised_at`` went through before
        ``until``, as ledger rows (10:00-11:00 clinic time on each step's day), with the
        worklist's outreach attempts: the messages, and the front desk's call after a call task.
        Returns the messages sent; the caller writes them (the others are written here)."""
        steps = self.cadences.get(flag.kind, [])
        patient, raised_day = flag.patient, seating.clinic.local(flag.raised_at).date()
        sent, used = [], set()
        for step in steps:
            at = max(seating.at(raised_day + step.day * ONE_DAY, datetime.time(10, self.rng.randint(0, 59))),
                     flag.raised_at + datetime.timedelta(minutes=5))
            if at >= until:
                break
            row = OutreachMessage(pk=self.outreach.pk(), uuid=self._uuid(), flag=flag, patient=patient, step=step,
                                  step_day=step.day, template=step.template, scheduled_for=at, sent_at=at, attempts=1,
                                  status=OutreachMessage.Status.SENT, channel=OutreachMessage.Channel.CALL)
            if step.action != CadenceStep.Action.CALL:
                first = channel_for(patient)
                others = [c for c, agreed in usable_channels(patient).items() if agreed and c not in used]
                channel = first if step.action == CadenceStep.Action.FIRST_CHANNEL else (others or [first])[0]
                if channel is None:
                    row.channel, row.status = patient.preferred_channel, OutreachMessage.Status.SKIPPED
                    row.sent_at = None
                    row.last_error = "The patient has not agreed to e-mail or SMS."
                else:
                    row.channel = channel
                    used.add(channel)
                    self.attempts.add_instance(OutreachAttempt(
                        pk=self.attempts.pk(), flag=flag, channel=channel, outcome=OutreachAttempt.Outcome.SENT, at=at,
                        note=f"“{step.template.name}” (day {step.day} of the cadence) with a self-booking link."))
            elif at + datetime.timedelta(hours=2) < min(until, self.now):
                self.attempts.add_instance(OutreachAttempt(
                    pk=self.attempts.pk(), flag=flag, channel=OutreachAttempt.Channel.PHONE,
                    outcome=self.rng.choice(CALL_OUTCOMES), by=seating.team[roles.FRONT_DESK],
                    at=at + datetime.timedelta(hours=2)))
            if row.status == OutreachMessage.Status.SENT:
                sent.append(row)
            else:
                self.outreach.add_instance(row)
        return sent

    def _missed_visit(self, booked, patient, seating, protocol, plan, first, *, stopped, lapsed):
        """Maybe a maintenance session booked on ``first`` that did not happen; returns the day
        from which the visit is then looked for."""
        day = seating.free_on_or_after(first)
        if day >= seating.today or day - first > 7 * ONE_DAY:
            return first  # only days already over are missed
        roll = self.rng.random()
        if day >= stopped:  # the visit that never came: only a lapsed patient may have missed it
            status = Appointment.Status.NO_SHOW if lapsed and roll < LAPSED_NO_SHOW_RATE else None
        elif roll < VISIT_NO_SHOW_RATE:
            status = Appointment.Status.NO_SHOW
        elif roll < VISIT_NO_SHOW_RATE + VISIT_CANCEL_RATE:
            status = Appointment.Status.CANCELLED
        else:
            status = None
        if status is None:
            return first
        self._appointment(booked, patient, seating, seating.seat(day), Appointment.Kind.MAINTENANCE, protocol,
                          protocol.chair_minutes, plan=plan, missed=status)
        if day >= stopped:
            # The front desk rebooked a week later, and the patient may not have come again.
            again = seating.free_on_or_after(day + 7 * ONE_DAY)
            if again < seating.today and self.rng.random() < LAPSED_NO_SHOW_RATE:
                self._appointment(booked, patient, seating, seating.seat(again), Appointment.Kind.MAINTENANCE,
                                  protocol, protocol.chair_minutes, plan=plan, missed=status)
        return day + self.rng.randint(2, 6) * ONE_DAY

    def _appointment(self, booked, patient, seating, seat, kind, protocol, minutes, *, course=None, plan=None,
                     motor_threshold=None, mt_measured=False, missed=None):
        """An appointment whose status follows the clock: over, under way, or to come; or,
        given ``missed``, a past one that was a no-show or was cancelled the day before."""
        chair, day, lane = seat
        starts_at, ends_at = seating.moment(day, lane, minutes)
        if missed is not None:
            status = missed
        elif ends_at <= self.now:
            status = Appointment.Status.COMPLETED
        elif starts_at <= self.now:
            status = Appointment.Status.CHECKED_IN
        else:
            status = Appointment.Status.BOOKED
        null, moment = self.values.NULL, self.values.datetime
        starts, team = moment(starts_at), seating.team
        # The flag job reads no-shows by when they were recorded, cancellations when they were made.
        cancelled_at = updated_at = null
        if status == Appointment.Status.CANCELLED:
            cancelled_at = updated_at = moment(starts_at - ONE_DAY)
        elif status == Appointment.Status.NO_SHOW:
            updated_at = moment(ends_at + self.no_show_recorded)
        else:
            updated_at = moment(self.now)
        pk = self.appointments.pk()
        row = self.appointments.add(
            pk, self._uuid_hex(), patient.pk, seating.clinic.pk, chair.pk, team[roles.TECHNICIAN].pk, kind,
            course.pk if course else null, plan.pk if plan else null, starts, moment(ends_at), status,
            Appointment.Via.STAFF, 0, team[roles.FRONT_DESK].pk,
            "Patient called to rebook" if status == Appointment.Status.CANCELLED else "", cancelled_at,
            starts if status in ATTENDED else null, updated_at)
        visit = Booked(pk, starts_at, ends_at, status, row)
        booked.append(visit)
        if status == Appointment.Status.COMPLETED:
            side_effects = self.rng.choice(SIDE_EFFECTS) if self.rng.random() < SIDE_EFFECT_RATE else ""
            measured = mt_measured and motor_threshold is not None
            self.session_records.add(
                self.session_records.pk(), pk, protocol.pulses_per_session, protocol.intensity_percent_mt,
                null if motor_threshold is None else motor_threshold, int(measured),
                # What scheduling.services.billing.derive_cpt gives: the mapping visit
                # measures first, so later measurements are re-determinations.
                (SessionRecord.Cpt.FIRST if kind == Appointment.Kind.MAPPING
                 else SessionRecord.Cpt.MT if measured else SessionRecord.Cpt.SUBSEQUENT),
                protocol.target, side_effects, team[roles.TECHNICIAN].pk, moment(ends_at))
        return visit

    def _instance(self, visit, patient, seating):
        """An unsaved Appointment with what ``reminders_for`` reads of one."""
        return Appointment(pk=visit.pk, patient=patient, clinic=seating.clinic, starts_at=visit.starts_at,
                           ends_at=visit.ends_at)

    def _reminders(self, rows):
        for reminder in rows:
            reminder.pk = self.reminders.pk()
            self.reminders.add_instance(reminder)

    def _sent_reminders(self, visit, patient, seating):
        """The reminders of a session that has begun, as the worker left them: each one the
        booking armed went out when it was due; those it skipped stay skipped, with the reason."""
        rows = reminders_for(self._instance(visit, patient, seating), visit.starts_at - BOOKED_AHEAD)
        for reminder in rows:
            if reminder.status == Reminder.Status.PENDING:
                reminder.status = Reminder.Status.SENT
                reminder.claimed_at = reminder.sent_at = reminder.scheduled_for
                reminder.attempts = 1
        self._reminders(rows)

    def _phq9(self, patient, taken_at, expected_total, seating, *, at_intake=False):
        """A PHQ-9 near ``expected_total``; item 9 stays 0 but for a rare answer at intake."""
        rng = self.rng
        item_9 = 1 if at_intake and rng.random() < SELF_HARM_ANSWER_RATE else 0
        total = max(item_9, min(24, round(expected_total) + rng.randint(-1, 1)))
        share, extra = divmod(total - item_9, 8)
        raised = set(rng.sample(range(8), extra))
        items = [share + (item in raised) for item in range(8)] + [item_9]
        clinician = seating.team[roles.CLINICIAN]
        self.assessments.add(
            self.assessments.pk(), patient.pk, *items,
            # How hard the problems make daily life, rising with severity.
            min(total // 7, Assessment.Difficulty.EXTREMELY), total, Assessment.band_for(total),
            self.values.datetime(taken_at), clinician.pk)
        if item_9:
            self._safety_flag(patient, taken_at, clinician)

    def _safety_flag(self, patient, answered_at, clinician):
        """The flag the app raises for item 9, reviewed the same day once that has happened."""
        reviewed_at = answered_at + datetime.timedelta(hours=2)
        reviewed = reviewed_at <= self.now
        self.flags.add_instance(
            PatientFlag(
                pk=self.flags.pk(),
                patient=patient,
                kind=PatientFlag.Kind.SAFETY,
                detail="PHQ-9 item 9 answered “several days” at intake.",
                raised_at=answered_at,
                resolved_at=reviewed_at if reviewed else None,
                resolved_by=clinician if reviewed else None,
                resolution_note=(
                    "Same-day review: passive thoughts, no plan or intent; safety plan agreed."
                    if reviewed else ""
                ),
            )
        )


def cadence_steps():
    """The default cadence's steps by flag kind (the migrations write them)."""
    steps = {}
    for step in (CadenceStep.objects.filter(cadence__clinic__isnull=True, cadence__active=True)
                 .select_related("cadence", "template").order_by("day")):
        steps.setdefault(step.cadence.flag_kind, []).append(step)
    return steps


def backdate_open_flags(builder, now):
    """The overdue flags the job has just raised were raised, had it been running, the night
    each plan's grace days ran out: dated so, with the cadence's messages sent since."""
    seatings = {seating.clinic.pk: seating for seating in builder.clinics}
    flags = list(PatientFlag.objects.open().filter(kind=PatientFlag.Kind.OVERDUE_MAINTENANCE, plan__isnull=False,
                                                   plan__overdue_after__lt=now)
                 # In the patients' order: the cadence's draws go to the same flags whatever order
                 # the rows came in (two building processes' batches reach the table as they come).
                 .select_related("plan", "patient").order_by("patient__mrn", "kind"))
    for flag in flags:
        flag.raised_at = flag.plan.overdue_after + datetime.timedelta(hours=1)
        for row in builder.outreach_history(flag, seatings[flag.patient.home_clinic_id], until=now):
            builder.outreach.add_instance(row)
    PatientFlag.objects.bulk_update(flags, ["raised_at"], batch_size=1000)
    builder.write()


# --- The chain: clinics, their staff, protocols -----------------------------------------------


def clinic_plan(count, seed):
    """(name, city, chairs, chairs out of service, open on Saturday mornings) for each clinic:
    the first two as the demo has always had them, the rest in turn through the cities."""
    rng = random.Random(f"clinics {seed}")
    plan = []
    for number in range(count):
        city = CITIES[number % len(CITIES)]
        round_ = number // len(CITIES)
        name = f"{city.first_clinic} TMS" if round_ == 0 else f"{city.name} TMS {round_ + 1}"
        chairs = FIRST_CLINIC_CHAIRS if number == 0 else rng.randint(*CHAIRS)
        plan.append((name, city, chairs, int(number == 0 or rng.random() < 0.2), number == 0 or rng.random() < 0.4))
    return plan


def seed_clinics(count, seed, today):
    """The chain's clinics with their hours, chairs and holidays, in a few queries; a clinic
    that exists already is used as it is."""
    plan = clinic_plan(count, seed)
    existing = set(Clinic.objects.filter(name__in=[name for name, *_ in plan]).values_list("name", flat=True))
    new = [(name, city, chairs, spare, saturday) for name, city, chairs, spare, saturday in plan
           if name not in existing]
    Clinic.objects.bulk_create(
        Clinic(name=name, time_zone=city.time_zone, address=city.street, phone=city.phone)
        for name, city, *_ in new)
    by_name = {clinic.name: clinic for clinic in Clinic.objects.filter(name__in=[name for name, *_ in new])}
    created = [by_name[name] for name, *_ in new]
    hours, chairs, closures = [], [], []
    for clinic, (_, city, count_chairs, spare, saturday) in zip(created, new, strict=True):
        periods = [(weekday, period) for weekday in range(OpeningHours.Weekday.SATURDAY) for period in WEEKDAY_HOURS]
        if saturday:
            periods += [(OpeningHours.Weekday.SATURDAY, period) for period in SATURDAY_HOURS]
        hours += [OpeningHours(clinic=clinic, weekday=weekday, opens_at=opens, closes_at=closes)
                  for weekday, (opens, closes) in periods]
        chairs += [Chair(clinic=clinic, name=f"Chair {number}", active=number <= count_chairs, **CHAIR_DEVICE)
                   for number in range(1, count_chairs + spare + 1)]
        # The demo's history reaches a year and more back.
        holidays = [(datetime.date(year, month, day), name) for year in range(today.year - 2, today.year + 2)
                    for month, day, name in HOLIDAYS[city.country]]
        closures += [Closure(clinic=clinic, starts_on=day, ends_on=day, reason=name) for day, name in holidays]
    OpeningHours.objects.bulk_create(hours)
    Chair.objects.bulk_create(chairs)
    Closure.objects.bulk_create(closures)
    by_name = {clinic.name: clinic for clinic in Clinic.objects.filter(name__in=[name for name, *_ in plan])}
    return [(by_name[name], city) for name, city, *_ in plan]


def seed_staff():
    """One user per role and a superuser, all with the demo password (hashed once: it is the same
    published password for all); safe to re-run."""
    User = get_user_model()
    password = make_password(settings.DEMO_PASSWORD)
    staff = {}
    for username, first_name, last_name, role, admin_access in STAFF:
        user = _demo_user(User, username, password, first_name=first_name, last_name=last_name,
                          is_staff=admin_access, is_superuser=False)
        user.groups.set([Group.objects.get(name=role)])
        staff[role] = user
    _demo_user(User, SUPERUSER, password, first_name="Site", last_name="Administrator",
               is_staff=True, is_superuser=True)
    return staff


def seed_teams(clinics, demo_staff, seed):
    """Each clinic's own front desk, technician and clinician (home there; no password), and the
    demo logins as members of the first two clinics, home the first. Returns each clinic's team
    by role: whom its records name."""
    User = get_user_model()
    rng = random.Random(f"staff {seed}")
    groups = {group.name: group for group in Group.objects.filter(name__in=[role for _, role in CLINIC_TEAM])}
    wanted = {}
    for number, (clinic, _) in enumerate(clinics, start=1):
        for slug, role in CLINIC_TEAM:
            wanted[f"{slug}.{number:03d}"] = (clinic, role)
    existing = set(User.objects.filter(username__in=wanted).values_list("username", flat=True))
    unusable = make_password(None)
    User.objects.bulk_create(
        User(username=username, first_name=rng.choice(FIRST_NAMES), last_name=rng.choice(LAST_NAMES),
             email=f"{username}@example.org", password=unusable)
        for username in wanted if username not in existing)
    users = {user.username: user for user in User.objects.filter(username__in=wanted)}
    new = [username for username in wanted if username not in existing]
    User.groups.through.objects.bulk_create(
        User.groups.through(user_id=users[username].pk, group_id=groups[wanted[username][1]].pk) for username in new)
    ClinicMembership.objects.bulk_create(
        ClinicMembership(user=users[username], clinic=wanted[username][0], is_home=True) for username in new)
    seed_memberships(demo_staff.values(), [clinic for clinic, _ in clinics[:MIN_CLINICS]])
    teams = defaultdict(dict)
    for username, (clinic, role) in wanted.items():
        teams[clinic.pk][role] = users[username]
    return teams


def seed_memberships(users, clinics):
    """The demo's staff work at the given clinics, the first being home; safe to re-run."""
    for user in users:
        for n, clinic in enumerate(clinics):
            ClinicMembership.objects.update_or_create(user=user, clinic=clinic, defaults={"is_home": n == 0})


def _demo_user(User, username, password, **fields):
    user, _ = User.objects.update_or_create(
        username=username,
        defaults={"email": f"{username}@example.org", "is_active": True, "password": password, **fields},
    )
    return user


def seed_protocols():
    return {
        spec["name"]: Protocol.objects.get_or_create(name=spec["name"], defaults=spec)[0]
        for spec in PROTOCOLS
    }


# --- Portal accounts for the demo: two are opened, and `make run` lists them ----------------


def open_demo_portal_accounts():
    """Give the first patient on time with maintenance and the first overdue one (by MRN, so
    the same seed gives the same two) a portal account with the demo password."""
    now = timezone.now()
    live = MaintenancePlan.objects.active().filter(
        patient__status=Patient.Status.ACTIVE
    ).exclude(patient__email="").select_related("patient__home_clinic").order_by("patient__mrn")
    chosen = [
        ("maintenance on time", live.filter(overdue_after__gt=now).first()),
        ("maintenance overdue", live.filter(overdue_after__lte=now).first()),
    ]
    for _, plan in chosen:
        if plan is None:
            continue
        try:
            open_portal_account(plan.patient, password=settings.DEMO_PASSWORD)
        except InviteRefused:  # an account left from an earlier demo holds the address
            continue


def demo_portal_logins():
    """(e-mail, what their record shows) for the demo patients who have portal accounts."""
    now = timezone.now()
    patients = Patient.objects.active().filter(user__isnull=False).select_related("user")
    logins = []
    for patient in patients.order_by("mrn")[:2]:
        plan = patient.maintenance_plans.active().first()
        overdue = plan is not None and plan.overdue_after is not None and plan.overdue_after <= now
        logins.append((patient.user.username, "maintenance overdue" if overdue else "maintenance on time"))
    return logins


def seed_waitlist(now):
    """A few waitlist wishes at the first clinic, and freed times whose offers are in every state:
    one holding two offers (open, declined, expired), one filled from the waitlist (accepted,
    gone), one with no taker. A handful of queries whatever the demo's size. Returns the offers."""
    from scheduling.models import FreedSlot, SlotOffer, WaitlistEntry
    from scheduling.services import SlotUnavailable, book_appointment, open_slots
    from scheduling.services.calendar import after

    clinic = Clinic.objects.order_by("pk").first()
    chair = Chair.objects.filter(clinic=clinic, active=True).order_by("name").first()
    plans = list(MaintenancePlan.objects.active().filter(patient__home_clinic=clinic, patient__status="active")
                 .exclude(patient__email="").select_related("patient", "protocol").order_by("patient__mrn")[:8])
    if chair is None or len(plans) < 6:
        return []
    entries = WaitlistEntry.objects.bulk_create(
        WaitlistEntry(patient=plan.patient, clinic=clinic, created_at=now - datetime.timedelta(days=2 + 5 * n),
                      via=("staff", "portal")[n % 2], weekdays="01234" if n >= 6 else "")
        for n, plan in enumerate(plans))
    duration = datetime.timedelta(minutes=max(plan.protocol.chair_minutes for plan in plans))
    today = clinic.local(now).date()
    starts = [slot.starts_at for slot in open_slots(
        clinic=clinic, duration=duration, start=now + datetime.timedelta(hours=settings.TMS_WAITLIST_NOTICE_HOURS),
        end=datetime.datetime.combine(today + datetime.timedelta(days=8), datetime.time(0), tzinfo=clinic.tz),
        chairs=[chair])]
    times = []
    for start in starts:  # three free times, apart from one another
        if not times or start >= after(times[-1], duration + datetime.timedelta(hours=1)):
            times.append(start)
        if len(times) == 3:
            break
    if len(times) < 3:
        return []
    hold = datetime.timedelta(minutes=settings.TMS_WAITLIST_HOLD_MINUTES)
    reasons = [FreedSlot.Reason.CANCELLED, FreedSlot.Reason.MOVED, FreedSlot.Reason.CANCELLED]
    freed = FreedSlot.objects.bulk_create(
        FreedSlot(clinic=clinic, chair=chair, starts_at=start, ends_at=after(start, duration), reason=reason,
                  created_at=now - datetime.timedelta(hours=2), look_at=now)
        for start, reason in zip(times, reasons, strict=True))
    def offer(entry, slot, status, sent_minutes_ago, **fields):
        sent_at = now - datetime.timedelta(minutes=sent_minutes_ago)
        return SlotOffer(entry=entry, patient=entry.patient, clinic=clinic, chair=chair, starts_at=slot.starts_at,
                          ends_at=slot.ends_at, channel="email", status=status, attempts=1, claimed_at=sent_at,
                          sent_at=sent_at, expires_at=sent_at + hold, freed_slot=slot, **fields)

    holding, filled, unfilled = freed
    offers = [
        offer(entries[0], holding, SlotOffer.Status.OPEN, 5),
        offer(entries[1], holding, SlotOffer.Status.DECLINED, 70, answered_at=now - datetime.timedelta(minutes=60)),
        offer(entries[2], holding, SlotOffer.Status.EXPIRED, 100),
        offer(entries[4], filled, SlotOffer.Status.GONE, 50, gone_told_at=now - datetime.timedelta(minutes=40)),
        offer(entries[5], unfilled, SlotOffer.Status.DECLINED, 200, answered_at=now - datetime.timedelta(minutes=190)),
    ]
    try:
        appointment = book_appointment(patient=entries[3].patient, chair=chair, starts_at=filled.starts_at,
                                       kind=Appointment.Kind.MAINTENANCE, booked_by=None, plan=plans[3],
                                       via=Appointment.Via.PORTAL, duration=duration)
    except SlotUnavailable:  # the patient is busy then: the time stays with its gone offer only
        appointment = None
    if appointment is not None:
        # The same seed on the same day gives the same demo, this booking's key too.
        appointment.uuid = uuid.uuid5(entries[3].patient.uuid, "waitlist demo")
        Appointment.objects.filter(pk=appointment.pk).update(uuid=appointment.uuid)
        offers.append(offer(entries[3], filled, SlotOffer.Status.ACCEPTED, 55, appointment=appointment,
                            answered_at=now - datetime.timedelta(minutes=45)))
        WaitlistEntry.objects.filter(pk=entries[3].pk).update(status=WaitlistEntry.Status.BOOKED,
                                                              closed_at=now - datetime.timedelta(minutes=45))
    filled_status = FreedSlot.Status.FILLED if appointment else FreedSlot.Status.UNFILLED
    FreedSlot.objects.filter(pk=filled.pk).update(status=filled_status, closed_at=now - datetime.timedelta(minutes=45))
    FreedSlot.objects.filter(pk=unfilled.pk).update(status=FreedSlot.Status.UNFILLED, closed_at=now,
                                                    note="Offered to 1; no one took it.")
    return SlotOffer.objects.bulk_create(offers)


class Stopwatch:
    """Prints how long each step took (at verbosity 2), for whoever measures the seed."""

    def __init__(self, out):
        self.out = out
        self.last = time.perf_counter()

    def detail(self, seconds, what):
        if self.out is not None:
            self.out.write(f"          {seconds:6.1f} s  {what}")

    def lap(self, step):
        now = time.perf_counter()
        if self.out is not None:
            self.out.write(f"  {now - self.last:6.1f} s  {step}")
        self.last = now


class Command(BaseCommand):
    help = (
        "Seed a demo chain: about one clinic for every 800 patients, a user for every staff role and "
        "patients in every stage of care, dated from today. Only into a database without patients."
    )

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=1600, help="How many patients (default 1600)")
        parser.add_argument("--clinics", type=int, default=None,
                            help=f"How many clinics (default: one for every {PATIENTS_PER_CLINIC} patients, "
                                 f"at least {MIN_CLINICS})")
        parser.add_argument("--seed", type=int, default=1, help="Random seed; the same seed on the "
                            "same day gives the same data (default 1)")
        parser.add_argument("--if-empty", action="store_true",
                            help="Do nothing, successfully, when the database already has patients")
        parser.add_argument("--in-one-process", dest="in_processes", action="store_false",
                            help=f"Build the patients' {PARTS} parts one after the other in this process "
                                 f"instead of in {PARTS} processes at once: the same data, slower")

    def handle(self, *, patients, clinics, seed, if_empty, verbosity, in_processes=True, **options):
        if patients < 0:
            raise CommandError("--patients cannot be negative.")
        if clinics is not None and clinics < 1:
            raise CommandError("--clinics must be at least 1.")
        if Patient.objects.exists():
            if if_empty:
                self.stdout.write("The database already has patients; seed_demo left it as it was.")
                self._portal_logins()
                return
            raise CommandError(
                "The database already has patients and seed_demo only fills an empty one. "
                "Use --if-empty to skip quietly, or empty it first (manage.py flush)."
            )

        course_template = CourseTemplate.objects.filter(is_default=True).first()
        plan_template = PlanTemplate.objects.filter(name=PLAN_TEMPLATE).first()
        if course_template is None or plan_template is None:
            raise CommandError(
                f"seed_demo needs a default course template and the “{PLAN_TEMPLATE}” plan template; "
                "the migrations create both (has one been deleted in admin?)."
            )
        clinics = clinics or max(MIN_CLINICS, round(patients / PATIENTS_PER_CLINIC))

        now = timezone.now()
        values = Values()
        clock = Stopwatch(self.stdout if verbosity > 1 else None)
        with transaction.atomic():
            staff = seed_staff()
            protocols = seed_protocols()
            # One lane fits any visit the demo books: a mapping visit or a session of any protocol.
            lane_minutes = max(course_template.mapping_minutes,
                               *(protocols[name].chair_minutes for name in PATIENT_PROTOCOLS))
            chain = seed_clinics(clinics, seed, now.date())
            teams = seed_teams(chain, staff, seed)
            chair_rows = Table(Chair, values, now=now)
            seatings = [ClinicSeating(clinic, city=city, team=teams[clinic.pk], lane_minutes=lane_minutes, now=now,
                                      chair_rows=chair_rows)
                        for clinic, city in chain]
            builder = DemoBuilder(rng=random.Random(seed), now=now, clinics=seatings, protocols=protocols,
                                  course_template=course_template, plan_template=plan_template, staff=staff,
                                  values=values)
            load = BulkLoad(builder.models)
            clock.lap("clinics, staff and protocols")
            load.begin()
            built = Counter()

            def progress(count):
                built["patients"] += count
                if verbosity > 1 and count:
                    self.stdout.write(f"  {built['patients']} of {patients} patients built")

            builder.build(patients, in_processes=in_processes, progress=progress)
            clock.lap(f"patients built ({PARTS} {'processes' if builder.built_in_processes else 'parts, here'}) "
                      "and written")
            load.finish(report=clock.detail)
            BookedAt.rebuild()  # kept by triggers, which were off while the rows went in
            clock.lap("indexes and constraints put back")
            # What the hourly job would do: the worklist shows the overdue patients at once. The
            # seeded no-shows are older than any mark a run on the empty database left.
            forget_missed_appointments_mark()
            flags = flag_overdue_patients(now)
            backdate_open_flags(builder, now)
            load.finish()  # the sequences again, past the rows written since
            clock.lap("the flag job and the outreach history")
            open_demo_portal_accounts()
            seed_waitlist(now)
        clock.lap("portal accounts, waitlist, commit")
        # Statistics for the query planner, as after any bulk load: PostgreSQL's autovacuum
        # would get to it minutes later, SQLite never does on its own, and until then the
        # planner guesses (the flag job took ten times longer on a freshly seeded database).
        # On PostgreSQL a VACUUM too, as autovacuum would do: it marks the pages all-visible, and
        # until then no index answers a query alone (an index-only scan still reads each row).
        # VACUUM cannot run in a transaction: inside one (a test's), the statistics only.
        vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
        statement = "VACUUM ANALYZE" if vacuum else "ANALYZE"
        with connection.cursor() as cursor:
            cursor.execute(statement)
        clock.lap(statement)
        self._report(builder, patients, seed, flags)
        self._portal_logins()

    def _portal_logins(self):
        logins = demo_portal_logins()
        if logins:
            self.stdout.write(f"Patient portal logins at /portal/login/, password “{settings.DEMO_PASSWORD}”:")
            for email, stage in logins:
                self.stdout.write(f"  {email:<32} {stage}")

    def _report(self, builder, patients, seed, flags):
        seatings = builder.clinics
        zones = sorted({seating.clinic.time_zone for seating in seatings})
        chairs = sum(len(seating.chairs) for seating in seatings)
        self.stdout.write(self.style.SUCCESS(
            f"Seeded {patients} demo patients (seed {seed}) in {len(seatings)} clinics with {chairs} chairs in "
            f"service, in {len(zones)} time zones ({', '.join(zones)})."))
        for seating in seatings[:MIN_CLINICS]:
            self.stdout.write(f"  {seating.clinic.name} ({seating.clinic.time_zone}, {len(seating.chairs)} chairs)")
        added = sum(seating.chairs_added for seating in seatings)
        if added:
            self.stdout.write(self.style.WARNING(
                f"  {added} chairs were added where clinics had more patients than chairs (choose more --clinics)."))
        for stage in STAGE_WEIGHTS:
            self.stdout.write(f"  {stage:<26} {builder.stages[stage]:>8}")
        today = sum(
            Appointment.objects.filter(
                clinic=seating.clinic,
                starts_at__gte=seating.at(seating.today, datetime.time(0)),
                starts_at__lt=seating.at(seating.today + ONE_DAY, datetime.time(0)),
            ).count()
            for seating in seatings[:MIN_CLINICS]
        )
        written = builder.written
        self.stdout.write(
            f"  {written(Appointment)} appointments ({today} today in the first {MIN_CLINICS} clinics), "
            f"{written(SessionRecord)} session records, {written(Assessment)} PHQ-9 assessments, "
            f"{written(MaintenancePlan)} maintenance plans, {written(Reminder)} reminders, "
            f"{flags['raised']} overdue flags; {builder.imported_courses} courses from before the chain's "
            f"go-live ({GO_LIVE_DAYS} days ago) without their appointments."
        )
        self.stdout.write(f"Demo logins, password “{settings.DEMO_PASSWORD}” (the first {MIN_CLINICS} clinics):")
        for username, _, _, role, admin_access in STAFF:
            self.stdout.write(f"  {username:<12} {role}{' (and Django admin)' if admin_access else ''}")
        self.stdout.write(f"  {SUPERUSER:<12} superuser")
