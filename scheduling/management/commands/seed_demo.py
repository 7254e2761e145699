"""``manage.py seed_demo``: fill an empty database with a demo that looks alive.

Two clinics in different time zones, a staff user for every role, and patients in every
stage of care — acute course under way, maintenance on time, maintenance overdue,
discharged — with their appointments, session records, reminders and PHQ-9 histories. Dates are
reckoned from today in each patient's clinic, so the demo never goes stale; the same
``--seed`` on the same day gives the same data. Appointments never overlap on a chair or
for a patient; a clinic gets the chairs its patients need beyond the few it starts with
(about one for every 30 patients).

Courses and plans follow the clinic's default course template and the "Taper to monthly"
plan template, laid out by the same code that books them for staff. Patients are written a
chunk at a time with ``bulk_create``, so ``save()`` never runs: what it would compute (a
PHQ-9 total and band, a plan's due dates) is computed here with the models' own methods, and
the reminders booking would write come from ``scheduling.services.reminders.reminders_for``: the worker
sends them when they fall due, as for any booking.
"""

import datetime
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, reset_queries, transaction
from django.db.models import F
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
from scheduling.models import (
    Appointment,
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
from scheduling.services.plans import SYSTEM_RESOLVED, flag_overdue_patients, forget_missed_appointments_mark
from scheduling.services.portal import InviteRefused, open_portal_account
from scheduling.services.reminders import channel_for, reminders_for, usable_channels
from tmsclinic import roles

ONE_DAY = datetime.timedelta(days=1)
PATIENTS_PER_WRITE = 1000
BATCH_SIZE = 1000


@dataclass(frozen=True)
class ClinicSpec:
    name: str
    time_zone: str
    address: str
    phone: str
    chairs: int
    chairs_out_of_service: int
    open_saturday_morning: bool
    # (month, day, name): fixed-date public holidays only; the demo needs closures, not a
    # full holiday calendar.
    holidays: tuple
    # (prefix, first, how many): numbers set aside for fiction that phonenumbers accepts.
    patient_phones: tuple

    def patient_phone(self, number):
        prefix, first, count = self.patient_phones
        return f"{prefix}{first + number % count:04d}"


CLINICS = (
    ClinicSpec(
        name="Riverside TMS",
        time_zone="America/New_York",
        address="200 Riverside Drive\nNew York, NY 10025",
        phone="+12125550100",
        chairs=3,
        chairs_out_of_service=1,
        open_saturday_morning=True,
        holidays=((1, 1, "New Year's Day"), (7, 4, "Independence Day"), (12, 25, "Christmas Day")),
        patient_phones=("+1212555", 101, 99),  # 555-0101…0199 (NANPA's fictional range)
    ),
    ClinicSpec(
        name="Thames TMS",
        time_zone="Europe/London",
        address="12 Bankside\nLondon SE1 9JE",
        phone="+442079460000",
        chairs=2,
        chairs_out_of_service=0,
        open_saturday_morning=False,
        holidays=((1, 1, "New Year's Day"), (12, 25, "Christmas Day"), (12, 26, "Boxing Day")),
        patient_phones=("+44207946", 1, 999),  # 020 7946 0001…0999 (Ofcom's drama range)
    ),
)
# A split day: closed for lunch.
WEEKDAY_HOURS = ((datetime.time(8), datetime.time(12, 30)), (datetime.time(13, 30), datetime.time(18)))
SATURDAY_HOURS = ((datetime.time(8), datetime.time(12, 30)),)
CHAIR_DEVICE = {"device_model": "MagVenture MagPro R30", "coil": "Cool-B65 figure-of-eight"}

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
STAGE_WEIGHTS = {ACUTE: 25, ON_TIME: 35, OVERDUE: 15, DISCHARGED: 25}

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
REMINDED_PAST_SESSIONS = 3
BOOKED_AHEAD = datetime.timedelta(days=7)

# Who pays, spread over the demo's patients (the billing export's second key).
PAYERS = ("Aetna", "Blue Cross Blue Shield", "Medicare", "UnitedHealthcare", "Self-pay")

# username, first name, last name, role, Django admin access
STAFF = (
    ("frontdesk", "Maria", "Lopez", roles.FRONT_DESK, False),
    ("technician", "Sam", "Patel", roles.TECHNICIAN, False),
    ("clinician", "Helen", "Okafor", roles.CLINICIAN, False),
    ("clinicadmin", "Jordan", "Reyes", roles.CLINIC_ADMIN, True),
)
SUPERUSER = "admin"

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


class ClinicSeating:
    """When one clinic is open, and which chair takes each appointment.

    Every open day is cut into lanes as long as the longest chair booking. The n-th
    appointment put in a lane on a date takes the clinic's n-th chair, so no chair is ever
    double-booked, and the clinic gets as many chairs as its busiest lane needs.
    """

    def __init__(self, clinic, *, spec, lane_minutes, now):
        self.clinic = clinic
        self.spec = spec
        self.today = clinic.local(now).date()
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
        self.lanes = dict(lanes)
        self.closed = {
            closure.starts_on + n * ONE_DAY
            for closure in clinic.closures.all()
            for n in range((closure.ends_on - closure.starts_on).days + 1)
        }
        self.chairs = list(clinic.chairs.filter(active=True).order_by("pk"))
        self.taken = Counter()
        self.treatment_days = {}

    def at(self, day, time):
        return datetime.datetime.combine(day, time, tzinfo=self.clinic.tz).astimezone(datetime.UTC)

    def is_open(self, day):
        return day.weekday() in self.lanes and day not in self.closed

    def open_on_or_after(self, day):
        while not self.is_open(day):
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
                clinic=self.clinic, template=template, first_day=first_day
            )
        return self.treatment_days[template.pk, first_day]

    def seat(self, day, lane=None):
        """A chair and a start time on ``day``: in ``lane``, else in the day's least busy lane."""
        if lane is None:
            lane = min(self.lanes[day.weekday()], key=lambda time: self.taken[day, time])
        index = self.taken[day, lane]
        self.taken[day, lane] += 1
        return self._chair(index), self.at(day, lane)

    def seat_series(self, days):
        """Seats for a course: the same time every day, in the lane that is least busy over
        the whole course, so the clinic needs as few chairs as it can."""
        usual = min(self.lanes[days[0].weekday()], key=lambda time: max(self.taken[day, time] for day in days))
        return [self.seat(day, usual if usual in self.lanes[day.weekday()] else None) for day in days]

    def _chair(self, index):
        while index >= len(self.chairs):
            number = self.clinic.chairs.count() + 1
            self.chairs.append(Chair.objects.create(clinic=self.clinic, name=f"Chair {number}", **CHAIR_DEVICE))
        return self.chairs[index]


class DemoBuilder:
    """Builds each patient's history as unsaved rows, and writes them in bulk."""

    def __init__(self, *, rng, now, clinics, protocols, course_template, plan_template, staff):
        self.rng = rng
        self.now = now
        self.clinics = clinics
        self.protocols = [protocols[name] for name in PATIENT_PROTOCOLS]
        self.course_template = course_template
        self.plan_template = plan_template
        self.plan_phases = list(plan_template.phases.all())
        self.staff = staff
        self.cadences = cadence_steps()
        # In the order the foreign keys need them written.
        self.rows = {
            model: []
            for model in (Patient, TreatmentCourse, MaintenancePlan, MaintenancePhase, Appointment,
                          SessionRecord, Assessment, PatientFlag, Reminder, OutreachMessage, OutreachAttempt)
        }
        self.written = Counter()
        self.stages = Counter()

    def write(self):
        for model, rows in self.rows.items():
            model.objects.bulk_create(rows, batch_size=BATCH_SIZE)
            self.written[model] += len(rows)
            rows.clear()
        # With DEBUG on, Django keeps the SQL of the last 9000 queries: gigabytes of inserts.
        reset_queries()

    def add_patient(self, number):
        rng = self.rng
        index = number - 1
        first_appointment = len(self.rows[Appointment])
        seating = self.clinics[index % len(self.clinics)]
        stages = list(STAGE_WEIGHTS)
        # The first patients take each stage in turn in every clinic, so even a tiny demo
        # shows them all.
        if index < len(stages) * len(self.clinics):
            stage = stages[index // len(self.clinics)]
        else:
            stage = rng.choices(stages, weights=STAGE_WEIGHTS.values())[0]
        self.stages[stage] += 1
        protocol = rng.choices(self.protocols, weights=PATIENT_PROTOCOLS.values())[0]

        course_start, visits_stopped = self._timeline(stage, seating.today)
        # As staff book a course: a mapping visit, then treatment from the next day on.
        mapping_day = seating.weekday_open_on_or_after(course_start)
        treatment_days = seating.course_days(self.course_template, first_day=mapping_day + ONE_DAY)
        intake_at = seating.at(mapping_day - 7 * ONE_DAY, datetime.time(10))
        patient = self._patient(number, seating, stage, intake_at)
        course = self._course(patient, protocol, mapping_day, treatment_days, in_progress=stage == ACUTE)

        baseline = rng.randint(18, 24)
        if stage == DISCHARGED:
            final = rng.randint(1, 6)
        else:
            final = rng.randint(3, 9) if rng.random() < 0.7 else rng.randint(10, 15)
        self._phq9(patient, intake_at, baseline, at_intake=True)

        mapping_seat, *treatment_seats = seating.seat_series([mapping_day, *treatment_days])
        mapping = self._appointment(patient, seating, mapping_seat, Appointment.Kind.MAPPING, protocol,
                                    self.course_template.mapping_minutes, course=course,
                                    motor_threshold=course.motor_threshold, mt_measured=True)
        if mapping.status != Appointment.Status.COMPLETED:
            course.motor_threshold = None  # measured at the mapping visit, still to come
        # The MT is re-measured every fifth session (TMS_MT_RECHECK_EVERY's default).
        sessions = [
            self._appointment(patient, seating, seat, Appointment.Kind.ACUTE, protocol, protocol.chair_minutes,
                              course=course, motor_threshold=course.motor_threshold, mt_measured=n % 5 == 4)
            for n, seat in enumerate(treatment_seats)
        ]
        # PHQ-9 at every tenth session and the last, sliding from baseline to this patient's outcome.
        last = len(sessions) - 1
        for done, session in enumerate(sessions):
            if session.status == Appointment.Status.COMPLETED and (done % 10 == 0 or done == last):
                self._phq9(patient, session.starts_at, baseline + (final - baseline) * done / last)

        if visits_stopped:
            self._maintenance(patient, seating, protocol, course, visits_stopped,
                              book_next=stage == ON_TIME and rng.random() < NEXT_VISIT_BOOKED_RATE,
                              lapsed=stage == OVERDUE,
                              phq9_total=final)
        # Missed visits are written before the visits themselves: order by time.
        begun = sorted((appointment for appointment in self.rows[Appointment][first_appointment:]
                        if appointment.status not in (Appointment.Status.BOOKED, Appointment.Status.CANCELLED)),
                       key=lambda appointment: appointment.starts_at)
        for appointment in begun[-REMINDED_PAST_SESSIONS:]:
            self._sent_reminders(appointment)

    def _timeline(self, stage, today):
        """When the acute course started and, for maintenance patients, the day from which
        they started no more visits (today for those still coming)."""
        rng = self.rng
        course_weeks = len(self.course_template.days_per_week)
        if stage == ACUTE:
            # Its last week begins 7 × (weeks − 1) + 1 days after mapping, so sessions remain.
            return today - rng.randint(0, 7 * (course_weeks - 1)) * ONE_DAY, None
        # Long enough ago for the whole course, and for maintenance patients some visits.
        course_and_more = (7 * (course_weeks + 1) + rng.randint(14, 420)) * ONE_DAY
        if stage == DISCHARGED:
            return today - course_and_more, None
        if stage == ON_TIME:
            return today - course_and_more, today
        # Past the longest interval after the last visit, and the grace days after that.
        lapse = max(phase.interval_days for phase in self.plan_phases) + self.plan_template.grace_days + 1
        stopped = today - (lapse + rng.randint(1, 135)) * ONE_DAY
        return stopped - course_and_more, stopped

    def _uuid(self):
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _patient(self, number, seating, stage, intake_at):
        rng = self.rng
        phone = "" if rng.random() < 0.1 else seating.spec.patient_phone(number)
        email_consent = rng.random() < 0.9
        sms_consent = bool(phone) and rng.random() < 0.6
        patient = Patient(
            uuid=self._uuid(),
            mrn=f"D{number:06d}",
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            date_of_birth=seating.today - rng.randint(19 * 365, 80 * 365) * ONE_DAY,
            email=f"patient.{number:06d}@example.org",
            phone=phone,
            home_clinic=seating.clinic,
            preferred_channel=(
                Patient.Channel.SMS if sms_consent and rng.random() < 0.5 else Patient.Channel.EMAIL
            ),
            email_consent=email_consent,
            email_consent_at=intake_at if email_consent else None,
            sms_consent=sms_consent,
            sms_consent_at=intake_at if sms_consent else None,
            primary_clinician=self.staff[roles.CLINICIAN] if rng.random() < 0.2 else None,
            payer=PAYERS[number % len(PAYERS)],
            status=Patient.Status.DISCHARGED if stage == DISCHARGED else Patient.Status.ACTIVE,
        )
        self.rows[Patient].append(patient)
        return patient

    def _course(self, patient, protocol, mapping_day, treatment_days, *, in_progress):
        sessions = self.course_template.sessions_for(protocol)
        course = TreatmentCourse(
            patient=patient,
            protocol=protocol,
            kind=TreatmentCourse.Kind.ACUTE,
            start_date=mapping_day,
            planned_sessions=sessions,
            motor_threshold=self.rng.randint(40, 75),
            status=TreatmentCourse.Status.ACTIVE if in_progress else TreatmentCourse.Status.COMPLETED,
            prior_auth_number=f"PA{self.rng.randint(10**7, 10**8 - 1)}",
            authorised_sessions=sessions,
            clinician=self.staff[roles.CLINICIAN],
            ended_on=None if in_progress else treatment_days[-1],
        )
        self.rows[TreatmentCourse].append(course)
        return course

    def _maintenance(self, patient, seating, protocol, course, stopped, *, book_next, lapsed, phq9_total):
        """An active plan from a week after the course, with the visits begun before
        ``stopped`` (and maybe the next one booked), some first booked on a day the patient
        missed or cancelled, and the due dates the plan's rule gives."""
        template = self.plan_template
        plan = MaintenancePlan(
            patient=patient,
            protocol=protocol,
            source_course=course,
            template=template,
            status=MaintenancePlan.Status.ACTIVE,
            started_on=course.ended_on + 7 * ONE_DAY,
            grace_days=template.grace_days,
        )
        phases = [
            MaintenancePhase(plan=plan, order=order, interval_days=phase.interval_days,
                             sessions_per_visit=phase.sessions_per_visit, visits=phase.visits)
            for order, phase in enumerate(self.plan_phases)
        ]
        self.rows[MaintenancePlan].append(plan)
        self.rows[MaintenancePhase].extend(phases)

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
            first = self._missed_visit(patient, seating, protocol, plan, first, stopped=stopped, lapsed=lapsed)
            visit = [seating.open_on_or_after(first)]
            while len(visit) < phase.sessions_per_visit:
                visit.append(seating.open_on_or_after(visit[-1] + ONE_DAY))
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
                session = self._appointment(patient, seating, seating.seat(day), Appointment.Kind.MAINTENANCE,
                                            protocol, protocol.chair_minutes, plan=plan,
                                            motor_threshold=course.motor_threshold,
                                            mt_measured=session_number == 0)
                if session.status == Appointment.Status.COMPLETED:
                    completed_days.append(day)
                    if session_number == 0:
                        self._phq9(patient, session.starts_at, phq9_total)
                        if number in late and visit[0] > dues[number] + plan.grace_days * ONE_DAY:
                            self._lapse(patient, seating, plan, dues[number], session)
        # What scheduling.services.plans.refresh_plan computes from the completed sessions.
        completed_visits, last_visit_on = plan.visits_from_sessions(completed_days, phases)
        plan.refresh_schedule(completed_visits=completed_visits, last_visit_on=last_visit_on,
                              time_zone=seating.clinic.time_zone, phases=phases)

    def _lapse(self, patient, seating, plan, due, returned):
        """The overdue flag the hourly job raised the night the grace days ran out, the cadence's
        messages until the patient came back (``returned``, a completed session), and the flag
        resolved by the system at that visit."""
        raised_at = seating.at(due + (plan.grace_days + 1) * ONE_DAY, datetime.time(1))
        if raised_at >= returned.starts_at:
            return
        flag = PatientFlag(patient=patient, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE, plan=plan, due_on=due,
                           raised_at=raised_at, resolved_at=returned.starts_at, resolution_note=SYSTEM_RESOLVED)
        self.rows[PatientFlag].append(flag)
        sent = self.outreach_history(flag, seating, until=returned.starts_at)
        if sent and self.rng.random() < RETURNED_FROM_LINK_RATE:
            last = sent[-1]
            if last.channel != OutreachMessage.Channel.CALL:
                # Booked from the link in the last message.
                last.appointment, last.link_opened_at = returned, last.sent_at + datetime.timedelta(hours=1)
                returned.booked_via, returned.booked_after_lapse = Appointment.Via.PORTAL, True
                returned.booked_by = None

    def outreach_history(self, flag, seating, *, until):
        """The default cadence's steps a flag raised at ``flag.raised_at`` went through before
        ``until``, as sent ledger rows (10:00-11:00 clinic time on each step's day), with the
        worklist's outreach attempts: the messages, and the front desk's call after a call task."""
        steps = self.cadences.get(flag.kind, [])
        patient, raised_day = flag.patient, seating.clinic.local(flag.raised_at).date()
        sent, used = [], set()
        for step in steps:
            at = max(seating.at(raised_day + step.day * ONE_DAY, datetime.time(10, self.rng.randint(0, 59))),
                     flag.raised_at + datetime.timedelta(minutes=5))
            if at >= until:
                break
            row = OutreachMessage(flag=flag, patient=patient, step=step, step_day=step.day, template=step.template,
                                  scheduled_for=at, sent_at=at, attempts=1, status=OutreachMessage.Status.SENT,
                                  channel=OutreachMessage.Channel.CALL)
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
                    self.rows[OutreachAttempt].append(OutreachAttempt(
                        flag=flag, channel=channel, outcome=OutreachAttempt.Outcome.SENT, at=at,
                        note=f"“{step.template.name}” (day {step.day} of the cadence) with a self-booking link."))
            elif at + datetime.timedelta(hours=2) < min(until, self.now):
                self.rows[OutreachAttempt].append(OutreachAttempt(
                    flag=flag, channel=OutreachAttempt.Channel.PHONE, outcome=self.rng.choice(CALL_OUTCOMES),
                    by=self.staff[roles.FRONT_DESK], at=at + datetime.timedelta(hours=2)))
            self.rows[OutreachMessage].append(row)
            if row.status == OutreachMessage.Status.SENT:
                sent.append(row)
        return sent

    def _missed_visit(self, patient, seating, protocol, plan, first, *, stopped, lapsed):
        """Maybe a maintenance session booked on ``first`` that did not happen; returns the day
        from which the visit is then looked for."""
        day = seating.open_on_or_after(first)
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
        self._appointment(patient, seating, seating.seat(day), Appointment.Kind.MAINTENANCE, protocol,
                          protocol.chair_minutes, plan=plan, missed=status)
        if day >= stopped:
            # The front desk rebooked a week later, and the patient may not have come again.
            again = seating.open_on_or_after(day + 7 * ONE_DAY)
            if again < seating.today and self.rng.random() < LAPSED_NO_SHOW_RATE:
                self._appointment(patient, seating, seating.seat(again), Appointment.Kind.MAINTENANCE, protocol,
                                  protocol.chair_minutes, plan=plan, missed=status)
        return day + self.rng.randint(2, 6) * ONE_DAY

    def _appointment(self, patient, seating, seat, kind, protocol, minutes, *, course=None, plan=None,
                     motor_threshold=None, mt_measured=False, missed=None):
        """An appointment whose status follows the clock: over, under way, or to come; or,
        given ``missed``, a past one that was a no-show or was cancelled the day before."""
        chair, starts_at = seat
        ends_at = starts_at + datetime.timedelta(minutes=minutes)
        if missed is not None:
            status = missed
        elif ends_at <= self.now:
            status = Appointment.Status.COMPLETED
        elif starts_at <= self.now:
            status = Appointment.Status.CHECKED_IN
        else:
            status = Appointment.Status.BOOKED
        appointment = Appointment(
            uuid=self._uuid(),
            patient=patient,
            clinic=seating.clinic,
            chair=chair,
            technician=self.staff[roles.TECHNICIAN],
            kind=kind,
            course=course,
            plan=plan,
            starts_at=starts_at,
            ends_at=ends_at,
            status=status,
            booked_by=self.staff[roles.FRONT_DESK],
            checked_in_at=starts_at if status in ATTENDED else None,
        )
        if status == Appointment.Status.CANCELLED:
            appointment.cancelled_at, appointment.cancel_reason = starts_at - ONE_DAY, "Patient called to rebook"
        self.rows[Appointment].append(appointment)
        if status == Appointment.Status.BOOKED:
            # The reminders booking it now would write; the worker sends each when it falls due.
            self.rows[Reminder].extend(reminders_for(appointment, self.now))
        if status == Appointment.Status.COMPLETED:
            side_effects = self.rng.choice(SIDE_EFFECTS) if self.rng.random() < SIDE_EFFECT_RATE else ""
            self.rows[SessionRecord].append(
                SessionRecord(
                    appointment=appointment,
                    pulses_delivered=protocol.pulses_per_session,
                    intensity_percent_mt=protocol.intensity_percent_mt,
                    motor_threshold=motor_threshold,
                    mt_measured=mt_measured and motor_threshold is not None,
                    # What scheduling.services.billing.derive_cpt gives: the mapping visit
                    # measures first, so later measurements are re-determinations.
                    cpt_code=(SessionRecord.Cpt.FIRST if kind == Appointment.Kind.MAPPING
                              else SessionRecord.Cpt.MT if mt_measured and motor_threshold is not None
                              else SessionRecord.Cpt.SUBSEQUENT),
                    coil_position=protocol.target,
                    side_effects=side_effects,
                    operator=self.staff[roles.TECHNICIAN],
                    recorded_at=ends_at,
                )
            )
        return appointment

    def _sent_reminders(self, appointment):
        """The reminders of a session that has begun, as the worker left them: each one the
        booking armed went out when it was due; those it skipped stay skipped, with the reason."""
        for reminder in reminders_for(appointment, appointment.starts_at - BOOKED_AHEAD):
            if reminder.status == Reminder.Status.PENDING:
                reminder.status = Reminder.Status.SENT
                reminder.claimed_at = reminder.sent_at = reminder.scheduled_for
                reminder.attempts = 1
            self.rows[Reminder].append(reminder)

    def _phq9(self, patient, taken_at, expected_total, *, at_intake=False):
        """A PHQ-9 near ``expected_total``; item 9 stays 0 but for a rare answer at intake."""
        rng = self.rng
        item_9 = 1 if at_intake and rng.random() < SELF_HARM_ANSWER_RATE else 0
        total = max(item_9, min(24, round(expected_total) + rng.randint(-1, 1)))
        share, extra = divmod(total - item_9, 8)
        raised = set(rng.sample(range(8), extra))
        items = [share + (item in raised) for item in range(8)] + [item_9]
        self.rows[Assessment].append(
            Assessment(
                patient=patient,
                **dict(zip(ITEM_FIELDS, items, strict=True)),
                # How hard the problems make daily life, rising with severity.
                difficulty=min(total // 7, Assessment.Difficulty.EXTREMELY),
                total=total,
                band=Assessment.band_for(total),
                taken_at=taken_at,
                source=Assessment.Source.STAFF,
                entered_by=self.staff[roles.CLINICIAN],
            )
        )
        if item_9:
            self._safety_flag(patient, taken_at)

    def _safety_flag(self, patient, answered_at):
        """The flag the app raises for item 9, reviewed the same day once that has happened."""
        reviewed_at = answered_at + datetime.timedelta(hours=2)
        reviewed = reviewed_at <= self.now
        self.rows[PatientFlag].append(
            PatientFlag(
                patient=patient,
                kind=PatientFlag.Kind.SAFETY,
                detail="PHQ-9 item 9 answered “several days” at intake.",
                raised_at=answered_at,
                resolved_at=reviewed_at if reviewed else None,
                resolved_by=self.staff[roles.CLINICIAN] if reviewed else None,
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
                 .select_related("plan", "patient"))
    for flag in flags:
        flag.raised_at = flag.plan.overdue_after + datetime.timedelta(hours=1)
        builder.outreach_history(flag, seatings[flag.patient.home_clinic_id], until=now)
    PatientFlag.objects.bulk_update(flags, ["raised_at"], batch_size=BATCH_SIZE)
    builder.write()


def seed_staff():
    """One user per role and a superuser, all with the demo password; safe to re-run."""
    User = get_user_model()
    staff = {}
    for username, first_name, last_name, role, admin_access in STAFF:
        user = _demo_user(User, username, first_name=first_name, last_name=last_name,
                          is_staff=admin_access, is_superuser=False)
        user.groups.set([Group.objects.get(name=role)])
        staff[role] = user
    _demo_user(User, SUPERUSER, first_name="Site", last_name="Administrator",
               is_staff=True, is_superuser=True)
    return staff


def seed_memberships(users, clinics):
    """The demo's staff work at every demo clinic, the first being home; safe to re-run."""
    for user in users:
        for n, clinic in enumerate(clinics):
            ClinicMembership.objects.update_or_create(user=user, clinic=clinic, defaults={"is_home": n == 0})


def _demo_user(User, username, **fields):
    user, _ = User.objects.update_or_create(
        username=username, defaults={"email": f"{username}@example.org", "is_active": True, **fields}
    )
    user.set_password(settings.DEMO_PASSWORD)
    user.save(update_fields=["password"])
    return user


def seed_protocols():
    return {
        spec["name"]: Protocol.objects.get_or_create(name=spec["name"], defaults=spec)[0]
        for spec in PROTOCOLS
    }


def seed_clinic(spec, today):
    """The clinic with its hours, chairs and holidays; an existing clinic is used as it is."""
    clinic, created = Clinic.objects.get_or_create(
        name=spec.name, defaults={"time_zone": spec.time_zone, "address": spec.address, "phone": spec.phone}
    )
    if not created:
        return clinic
    hours = [(weekday, period) for weekday in range(OpeningHours.Weekday.SATURDAY) for period in WEEKDAY_HOURS]
    if spec.open_saturday_morning:
        hours += [(OpeningHours.Weekday.SATURDAY, period) for period in SATURDAY_HOURS]
    OpeningHours.objects.bulk_create(
        OpeningHours(clinic=clinic, weekday=weekday, opens_at=opens, closes_at=closes)
        for weekday, (opens, closes) in hours
    )
    Chair.objects.bulk_create(
        Chair(clinic=clinic, name=f"Chair {number}", active=number <= spec.chairs, **CHAIR_DEVICE)
        for number in range(1, spec.chairs + spec.chairs_out_of_service + 1)
    )
    # The demo's history reaches about two years back.
    holidays = [
        (datetime.date(year, month, day), name)
        for year in range(today.year - 2, today.year + 2)
        for month, day, name in spec.holidays
    ]
    Closure.objects.bulk_create(
        Closure(clinic=clinic, starts_on=holiday, ends_on=holiday, reason=name) for holiday, name in holidays
    )
    return clinic


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


class Command(BaseCommand):
    help = (
        "Seed a demo: two clinics, a user for every staff role and patients in every stage of "
        "care, dated from today. Only into a database without patients."
    )

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=200, help="How many patients (default 200)")
        parser.add_argument("--seed", type=int, default=1, help="Random seed; the same seed on the "
                            "same day gives the same data (default 1)")
        parser.add_argument("--if-empty", action="store_true",
                            help="Do nothing, successfully, when the database already has patients")

    def handle(self, *, patients, seed, if_empty, verbosity, **options):
        if patients < 0:
            raise CommandError("--patients cannot be negative.")
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

        now = timezone.now()
        with transaction.atomic():
            staff = seed_staff()
            protocols = seed_protocols()
            # One lane fits any visit the demo books: a mapping visit or a session of any protocol.
            lane_minutes = max(course_template.mapping_minutes,
                               *(protocols[name].chair_minutes for name in PATIENT_PROTOCOLS))
            clinics = [
                ClinicSeating(seed_clinic(spec, now.date()), spec=spec, lane_minutes=lane_minutes, now=now)
                for spec in CLINICS
            ]
            seed_memberships(staff.values(), [seating.clinic for seating in clinics])
            builder = DemoBuilder(rng=random.Random(seed), now=now, clinics=clinics, protocols=protocols,
                                  course_template=course_template, plan_template=plan_template, staff=staff)
            for number in range(1, patients + 1):
                builder.add_patient(number)
                if number % PATIENTS_PER_WRITE == 0:
                    builder.write()
                    if verbosity > 1:
                        self.stdout.write(f"  {number} of {patients} patients written")
            builder.write()
            # bulk_create stamps every row's updated_at with now; a missed session was recorded
            # when it happened (the flag job reads no-shows by when they were recorded).
            Appointment.objects.filter(status=Appointment.Status.NO_SHOW).update(
                updated_at=F("ends_at") + datetime.timedelta(minutes=settings.TMS_AUTO_NO_SHOW_MINUTES))
            Appointment.objects.filter(status=Appointment.Status.CANCELLED).update(updated_at=F("cancelled_at"))
            # What the hourly job would do: the worklist shows the overdue patients at once. The
            # seeded no-shows are older than any mark a run on the empty database left.
            forget_missed_appointments_mark()
            flags = flag_overdue_patients(now)
            backdate_open_flags(builder, now)
            open_demo_portal_accounts()
            seed_waitlist(now)
        # Statistics for the query planner, as after any bulk load: PostgreSQL's autovacuum
        # would get to it minutes later, SQLite never does on its own, and until then the
        # planner guesses (the flag job took ten times longer on a freshly seeded database).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self._report(builder, patients, seed, flags)
        self._portal_logins()

    def _portal_logins(self):
        logins = demo_portal_logins()
        if logins:
            self.stdout.write(f"Patient portal logins at /portal/login/, password “{settings.DEMO_PASSWORD}”:")
            for email, stage in logins:
                self.stdout.write(f"  {email:<32} {stage}")

    def _report(self, builder, patients, seed, flags):
        clinics = ", ".join(
            f"{seating.clinic.name} ({seating.clinic.time_zone}, {len(seating.chairs)} chairs in service)"
            for seating in builder.clinics
        )
        self.stdout.write(self.style.SUCCESS(f"Seeded {patients} demo patients (seed {seed}) in {clinics}."))
        for stage in STAGE_WEIGHTS:
            self.stdout.write(f"  {stage:<26} {builder.stages[stage]:>8}")
        today = sum(
            Appointment.objects.filter(
                clinic=seating.clinic,
                starts_at__gte=seating.at(seating.today, datetime.time(0)),
                starts_at__lt=seating.at(seating.today + ONE_DAY, datetime.time(0)),
            ).count()
            for seating in builder.clinics
        )
        written = builder.written
        self.stdout.write(
            f"  {written[Appointment]} appointments ({today} today), {written[SessionRecord]} session "
            f"records, {written[Assessment]} PHQ-9 assessments, {written[MaintenancePlan]} maintenance plans, "
            f"{written[Reminder]} reminders, {flags['raised']} overdue flags."
        )
        self.stdout.write(f"Demo logins, password “{settings.DEMO_PASSWORD}”:")
        for username, _, _, role, admin_access in STAFF:
            self.stdout.write(f"  {username:<12} {role}{' (and Django admin)' if admin_access else ''}")
        self.stdout.write(f"  {SUPERUSER:<12} superuser")
