"""Who is treated and with what. Pure clinical rules live here as model methods."""

import datetime
import uuid
from zoneinfo import ZoneInfo

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

from tmsclinic.inputs import FREE_TEXT_MAX_LENGTH, validate_date_in_range, validate_one_line
from tmsclinic.roles import clinics_of

PHQ9_ITEMS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself — or that you are a failure or have let yourself or your "
    "family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite — "
    "being so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
)
ITEM_FIELDS = tuple(f"item_{n}" for n in range(1, 10))
CONSENTS = ("email_consent", "sms_consent")


class PatientQuerySet(models.QuerySet):
    def active(self):
        """Patients in treatment or follow-up: discharged patients are booked, reminded and
        flagged no more."""
        return self.filter(status=Patient.Status.ACTIVE)

    def visible_to(self, user, *, also=()):
        """The clinic wall: patients whose home clinic is one of the user's clinics, or who have
        an appointment at one of them; ``also`` adds patients opened by break-glass. Everyone
        for a superuser, no one for an account without clinics."""
        wall = behind_wall(user, also=also)
        return self if wall is None else self.filter(pk__in=wall)


# The patients booked at some clinics (scheduling.BookedAt: a pair for each clinic and patient
# with an appointment there, kept by the database's triggers), and those whose home clinic it is:
# each an index range read alone. Only table names and one %s per clinic (or patient) are put
# into these; the ids go as parameters.
BOOKED_AT = "SELECT booked.patient_id FROM {booked_at} booked WHERE booked.clinic_id IN ({clinics})"
HOME_AT = "SELECT patient.id FROM {patient} patient WHERE patient.home_clinic_id IN ({clinics})"
ALSO = "SELECT patient.id FROM {patient} patient WHERE patient.id IN ({patients})"


def _sql(template, **marks):
    """A template above with its tables' names, and one %s for each id of ``{name: ids}``."""
    booked_at = apps.get_model("scheduling", "BookedAt")  # patients never imports scheduling
    tables = {name: connection.ops.quote_name(model._meta.db_table)
              for name, model in (("booked_at", booked_at), ("patient", Patient))}
    return template.format(**tables, **{name: ", ".join(["%s"] * len(ids)) for name, ids in marks.items()})


def behind_wall(user, *, also=()):
    """The clinic wall as the ids of the patients behind it, one subquery for ``IN``: those booked
    at the user's clinics (BookedAt), their home clinic's patients (an index with their ids) and
    ``also``, each read by its own index, put together (UNION ALL: a patient may come twice,
    which ``IN`` does not mind). Patients and their records (flags, plans, appointments) all
    filter by it; an OR of the three made PostgreSQL scan every patient in the chain. None for a
    superuser (no wall)."""
    clinic_ids = clinics_of(user)
    if clinic_ids is None:
        return None
    also = [int(pk) for pk in also]  # as the field would have them
    if not clinic_ids:
        return Patient.objects.filter(pk__in=also).order_by().values("pk")
    ids = sorted(clinic_ids)
    parts, params = [BOOKED_AT, HOME_AT], [*ids, *ids]
    if also:
        parts.append(ALSO)
        params += also
    return RawSQL(_sql(" UNION ALL ".join(parts), clinics=ids, patients=also), params)  # noqa: S611 (tables, marks)


class OfPatientQuerySet(models.QuerySet):
    """Records that belong to a patient see the same wall as the patient."""

    def visible_to(self, user, *, also=()):
        wall = behind_wall(user, also=also)
        return self if wall is None else self.filter(patient_id__in=wall)


class Patient(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISCHARGED = "discharged", "Discharged"

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        SMS = "sms", "SMS"

    # The only identifier that appears in URLs: integer keys are guessable.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    mrn = models.CharField("MRN", max_length=32, unique=True, help_text="Medical record number",
                           validators=[validate_one_line])
    first_name = models.CharField(max_length=100, validators=[validate_one_line])
    last_name = models.CharField(max_length=100, validators=[validate_one_line])
    date_of_birth = models.DateField(validators=[validate_date_in_range])
    email = models.EmailField(blank=True)
    phone = PhoneNumberField(blank=True, help_text="Stored in international (E.164) form")
    home_clinic = models.ForeignKey(
        # Indexed with the patient's id (Meta): the clinic wall's home patients by the index alone.
        "scheduling.Clinic", on_delete=models.PROTECT, related_name="patients", db_index=False,
    )
    preferred_channel = models.CharField(
        max_length=8, choices=Channel.choices, default=Channel.EMAIL
    )
    # Who pays for the treatment (an insurer, "Self-pay"): the billing export's second key.
    payer = models.CharField(max_length=100, blank=True, validators=[validate_one_line],
                             help_text="The insurer or other payer billed for sessions, e.g. “Aetna” or “Self-pay”.")
    email_consent = models.BooleanField(default=False)
    email_consent_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    sms_consent = models.BooleanField(default=False)
    sms_consent_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    # The patient asked for no more "we miss you" messages (a link in one, or STOP by SMS):
    # outreach cadences and offers stop; appointment reminders still go by consent.
    outreach_opt_out_at = models.DateTimeField(
        null=True, blank=True, validators=[validate_date_in_range],
        help_text="When the patient asked for no more outreach messages; empty to allow them again",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patient",
        help_text="The patient's portal account",
    )
    primary_clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="primary_patients",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    may_book_reintroduction = models.BooleanField(
        default=False, help_text="Let the patient book reintroduction sessions in the portal"
    )
    # The private calendar feed's key: unguessable, revocable by the patient.
    calendar_token = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name"]
        indexes = [
            # Staff patient search and the alphabetical list.
            models.Index(fields=["last_name", "first_name"], name="patient_name_idx"),
            # The clinic wall's home patients: on PostgreSQL an index-only scan (the id is in the
            # index), where the foreign key's own index read each patient's row for its id.
            models.Index(fields=["home_clinic", "id"], name="patient_home_clinic"),
            # The flag job's active patients, read whole by an index-only scan (a sixth of the
            # chain) instead of one probe of the table per overdue plan.
            models.Index(fields=["id"], condition=Q(status="active"), name="patient_active"),
        ]

    def __str__(self):
        return f"{self.full_name} ({self.mrn})"

    # A typed MRN may already hold the number a new patient would get: a suffix then follows it.
    MRN_SUFFIXES = 100

    def save(self, *args, **kwargs):
        """A new patient saved without an MRN gets one from ``TMS_MRN_FORMAT``, numbered by the
        row's own key: the database's sequence hands each insert its own, so two saves at once
        never share a number, on PostgreSQL or SQLite."""
        if not (self._state.adding and not self.mrn):
            return super().save(*args, **kwargs)
        with transaction.atomic():
            self.mrn = uuid.uuid4().hex  # unique until the row has its number
            super().save(*args, **kwargs)
            given = settings.TMS_MRN_FORMAT.format(number=self.pk)
            for suffix in range(self.MRN_SUFFIXES):
                candidate = f"{given}-{suffix}" if suffix else given
                try:
                    with transaction.atomic():
                        Patient.objects.filter(pk=self.pk).update(mrn=candidate)
                except IntegrityError:
                    continue
                self.mrn = candidate
                return None
            raise IntegrityError(f"Every MRN from {given} to {given}-{self.MRN_SUFFIXES - 1} is taken.")

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}"

    def stamp_consents(self, changed_fields):
        """Record when each consent among ``changed_fields`` was given (the clinic's record that
        reminders were allowed), or clear the time when it was withdrawn."""
        now = timezone.now()
        for consent in CONSENTS:
            if consent in changed_fields:
                setattr(self, f"{consent}_at", now if getattr(self, consent) else None)


class Protocol(models.Model):
    class Pattern(models.TextChoices):
        RTMS_10HZ = "rtms_10hz", "10 Hz rTMS"
        ITBS = "itbs", "iTBS"
        RTMS_1HZ = "rtms_1hz", "1 Hz rTMS"
        DEEP_TMS = "deep_tms", "Deep TMS"
        OTHER = "other", "Other"

    name = models.CharField(max_length=100, unique=True, validators=[validate_one_line])
    pattern = models.CharField(max_length=16, choices=Pattern.choices)
    target = models.CharField(max_length=100, default="Left DLPFC", validators=[validate_one_line])
    pulses_per_session = models.PositiveIntegerField()
    session_minutes = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    chair_minutes = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1)],
        help_text="How long the chair is taken: session plus set-up",
    )
    intensity_percent_mt = models.PositiveSmallIntegerField(
        "intensity (% MT)", validators=[MinValueValidator(1), MaxValueValidator(200)]
    )
    sessions_per_day = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="More than one for accelerated protocols such as SAINT",
    )
    minutes_between_sessions = models.PositiveSmallIntegerField(
        default=0, help_text="Minimum gap from one session's start to the next on the same day"
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(chair_minutes__gte=models.F("session_minutes")),
                name="protocol_chair_covers_session",
                violation_error_message="Chair minutes must be at least the session minutes.",
            ),
            models.CheckConstraint(
                condition=Q(sessions_per_day__gte=1), name="protocol_sessions_per_day_positive"
            ),
        ]

    def __str__(self):
        return self.name


def validate_weekly_days(value):
    try:
        days = [int(part) for part in value.split(",")]
    except ValueError:
        days = []
    if not days or any(not 1 <= d <= 7 for d in days):
        raise ValidationError("Enter treatment days per week separated by commas, each 1 to 7, e.g. 5,5,5,3,2,1.")


class CourseTemplate(models.Model):
    """How an acute course is laid out week by week; editable by clinic admins."""

    name = models.CharField(max_length=100, unique=True, validators=[validate_one_line])
    weekly_days = models.CharField(
        max_length=100,
        default="5,5,5,5,5,5,3,2,1",
        validators=[validate_weekly_days, validate_one_line],
        help_text="Treatment days in each week, e.g. 5,5,5,5,5,5,3,2,1: 30 daily sessions over 6 weeks, "
        "then a 3-week taper. Accelerated protocols book their sessions per day on each of these days.",
    )
    mapping_minutes = models.PositiveSmallIntegerField(
        default=60, validators=[MinValueValidator(1)], help_text="Chair time of the first, mapping visit"
    )
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_course_template"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def days_per_week(self):
        return [int(part) for part in self.weekly_days.split(",")]

    def sessions_for(self, protocol):
        return sum(self.days_per_week) * protocol.sessions_per_day


class TreatmentCourse(models.Model):
    class Kind(models.TextChoices):
        ACUTE = "acute", "Acute"
        REINTRODUCTION = "reintroduction", "Reintroduction"

    class Status(models.TextChoices):
        ACTIVE = "active", "In progress"
        COMPLETED = "completed", "Completed"
        DISCONTINUED = "discontinued", "Discontinued"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="courses")

    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="courses")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ACUTE)
    start_date = models.DateField(validators=[validate_date_in_range])
    # 36 = 30 daily sessions over 6 weeks + 6 taper sessions over 3 weeks (CLINICAL.md).
    planned_sessions = models.PositiveSmallIntegerField(default=36)
    motor_threshold = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text="Resting motor threshold, % of machine output",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # The clinician responsible for the course: the rendering clinician of its billing rows.
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    prior_auth_number = models.CharField("prior authorisation number", max_length=64, blank=True,
                                         validators=[validate_one_line])
    authorised_sessions = models.PositiveSmallIntegerField(null=True, blank=True)
    # The payer's window for the authorised sessions, in the clinic's calendar: a session
    # outside it needs a clinician's approval, as one beyond the count does.
    authorised_from = models.DateField(null=True, blank=True, validators=[validate_date_in_range])
    authorised_until = models.DateField(null=True, blank=True, validators=[validate_date_in_range])
    ended_on = models.DateField(null=True, blank=True, validators=[validate_date_in_range])
    end_reason = models.CharField(max_length=200, blank=True, validators=[validate_one_line],
                                  help_text="Why the course was discontinued, or a note on its completion.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OfPatientQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date"]

    def __str__(self):
        return f"{self.get_kind_display()} course for {self.patient.full_name} from {self.start_date}"


class AuthorisationChange(models.Model):
    """The course's authorisation as it was set or extended: the number, the sessions and the
    window, who changed it and why. The course holds the current values; these rows are their
    history, never edited."""

    course = models.ForeignKey(TreatmentCourse, on_delete=models.CASCADE, related_name="authorisation_changes")
    prior_auth_number = models.CharField("prior authorisation number", max_length=64, blank=True,
                                         validators=[validate_one_line])
    authorised_sessions = models.PositiveSmallIntegerField(null=True, blank=True)
    authorised_from = models.DateField(null=True, blank=True, validators=[validate_date_in_range])
    authorised_until = models.DateField(null=True, blank=True, validators=[validate_date_in_range])
    note = models.CharField(max_length=200, blank=True, validators=[validate_one_line])
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    changed_at = models.DateTimeField(default=timezone.now, validators=[validate_date_in_range])

    class Meta:
        ordering = ["-changed_at", "-pk"]

    def __str__(self):
        return f"Authorisation of {self.course} as of {self.changed_at:%Y-%m-%d}"


class PlanTemplate(models.Model):
    """A maintenance schedule clinics reuse; its phases are copied into each patient's plan."""

    name = models.CharField(max_length=100, unique=True, validators=[validate_one_line])
    grace_days = models.PositiveSmallIntegerField(default=7)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class PlanTemplatePhase(models.Model):
    template = models.ForeignKey(PlanTemplate, on_delete=models.CASCADE, related_name="phases")
    order = models.PositiveSmallIntegerField(default=0)
    interval_days = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    sessions_per_visit = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    visits = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Leave empty for a phase that goes on until the plan ends"
    )

    class Meta:
        ordering = ["template", "order"]
        constraints = [
            models.UniqueConstraint(fields=["template", "order"], name="template_phase_order_unique"),
        ]

    def __str__(self):
        times = "ongoing" if self.visits is None else f"× {self.visits}"
        return f"every {self.interval_days} days {times}"


class MaintenancePlanQuerySet(OfPatientQuerySet):
    def active(self):
        """Plans whose visits fall due now."""
        return self.filter(status=MaintenancePlan.Status.ACTIVE)

    def live(self):
        """Active or paused: the patient's schedule (at most one per patient)."""
        return self.filter(status__in=MaintenancePlan.LIVE_STATUSES)


class MaintenancePlan(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ENDED = "ended", "Ended"

    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="maintenance_plans"
    )
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="plans")
    source_course = models.ForeignKey(
        TreatmentCourse,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="maintenance_plans",
    )
    template = models.ForeignKey(
        PlanTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="plans"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    started_on = models.DateField(validators=[validate_date_in_range])
    grace_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days after the due date before the patient counts as overdue"
    )
    paused_until = models.DateField(null=True, blank=True, validators=[validate_date_in_range])
    ended_on = models.DateField(null=True, blank=True, validators=[validate_date_in_range])
    end_reason = models.CharField(max_length=200, blank=True, validators=[validate_one_line])
    # Stored, not computed on read, so the overdue job is one indexed query
    # (healthchecks' Check.alert_after). Recomputed by every write that changes them.
    next_due_on = models.DateField(null=True, blank=True, editable=False)
    overdue_after = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    LIVE_STATUSES = (Status.ACTIVE, Status.PAUSED)

    objects = MaintenancePlanQuerySet.as_manager()

    class Meta:
        ordering = ["-started_on"]
        constraints = [
            # A patient follows one schedule at a time; the overdue job relies on it.
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status__in=["active", "paused"]),
                name="one_live_plan_per_patient",
                violation_error_message="This patient already has an active or paused plan.",
            ),
        ]
        indexes = [
            # Used by scheduling.tasks.flag_overdue_patients: only live plans are scanned.
            models.Index(
                fields=["overdue_after"],
                condition=Q(status="active"),
                name="plan_overdue_after_active",
            ),
            # The same job ends pauses whose date has passed.
            models.Index(fields=["paused_until"], condition=Q(status="paused"), name="plan_paused_until"),
        ]

    def __str__(self):
        return f"Maintenance for {self.patient.full_name} from {self.started_on}"

    def phase_for_visit(self, visit_number, phases=None):
        """The phase that visit number ``visit_number`` (0-based) belongs to, or None
        when every phase is finite and the plan has run out of visits."""
        phases = list(self.phases.all()) if phases is None else phases
        remaining = visit_number
        for phase in phases:
            if phase.visits is None or remaining < phase.visits:
                return phase
            remaining -= phase.visits
        return None

    def next_due_date(self, *, completed_visits, last_visit_on, phases=None):
        """When the next visit is due, from the phases and the last completed visit.

        The first visit is due on the start date; each later one is due the interval of the
        phase it belongs to after the previous visit. None when the plan has no visits left.
        """
        phase = self.phase_for_visit(completed_visits, phases)
        if phase is None:
            return None
        if completed_visits == 0 or last_visit_on is None:
            return self.started_on
        return last_visit_on + datetime.timedelta(days=phase.interval_days)

    def overdue_moment(self, due_on, time_zone):
        """The instant the patient becomes overdue: the end of the last grace day, at
        midnight in the clinic's own zone."""
        if due_on is None:
            return None
        last_day = due_on + datetime.timedelta(days=self.grace_days + 1)
        return datetime.datetime.combine(last_day, datetime.time(0), tzinfo=ZoneInfo(time_zone))

    def visits_from_sessions(self, session_days, phases=None):
        """(completed visits, day of the last one) from the clinic-local days of the plan's
        completed sessions, oldest first. A cluster visit counts once all its sessions are
        done; its day is the day of its first session, which is what the next interval
        runs from."""
        phases = list(self.phases.all()) if phases is None else phases
        completed, last_visit_on, used = 0, None, 0
        while (phase := self.phase_for_visit(completed, phases)) is not None:
            if len(session_days) - used < phase.sessions_per_visit:
                break
            last_visit_on = session_days[used]
            used += phase.sessions_per_visit
            completed += 1
        return completed, last_visit_on

    def refresh_schedule(self, *, completed_visits, last_visit_on, time_zone, phases=None):
        """Set ``next_due_on`` and ``overdue_after``; the caller saves in its transaction.

        A pause until a date moves the due date to that day at the earliest; a pause with no
        end date, or an ended plan, is never overdue.
        """
        due = self.next_due_date(completed_visits=completed_visits, last_visit_on=last_visit_on, phases=phases)
        if due is not None and self.paused_until is not None and due < self.paused_until:
            due = self.paused_until
        self.next_due_on = due
        never = self.status == self.Status.ENDED or (self.status == self.Status.PAUSED and self.paused_until is None)
        self.overdue_after = None if never else self.overdue_moment(due, time_zone)

    @property
    def is_overdue(self):
        return bool(
            self.status == self.Status.ACTIVE
            and self.overdue_after
            and timezone.now() >= self.overdue_after
        )

    @property
    def days_overdue(self):
        """Whole days since the visit fell due, once the grace days have run out, counted on
        the home clinic's calendar: UTC's is a day ahead every evening in the Americas."""
        if not self.is_overdue:
            return 0
        return (self.patient.home_clinic.today() - self.next_due_on).days


class MaintenancePhase(models.Model):
    plan = models.ForeignKey(MaintenancePlan, on_delete=models.CASCADE, related_name="phases")
    order = models.PositiveSmallIntegerField(default=0)
    interval_days = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1)], help_text="Days from one visit to the next"
    )
    sessions_per_visit = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="More than one for a cluster visit (e.g. 5 sessions over 2–3 days)",
    )
    visits = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Leave empty for a phase that goes on until the plan ends"
    )

    class Meta:
        ordering = ["plan", "order"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "order"], name="phase_order_unique_in_plan"),
            models.CheckConstraint(
                condition=Q(interval_days__gte=1), name="phase_interval_positive"
            ),
            models.CheckConstraint(
                condition=Q(sessions_per_visit__gte=1), name="phase_sessions_positive"
            ),
            models.CheckConstraint(
                condition=Q(visits__isnull=True) | Q(visits__gte=1), name="phase_visits_positive"
            ),
        ]

    def __str__(self):
        every = f"every {self.interval_days} days"
        times = "ongoing" if self.visits is None else f"× {self.visits}"
        cluster = f", {self.sessions_per_visit} sessions a visit" if self.sessions_per_visit > 1 else ""
        return f"{every} {times}{cluster}"


def _item_field(number):
    return models.PositiveSmallIntegerField(
        f"item {number}",
        validators=[MaxValueValidator(3)],
        help_text=PHQ9_ITEMS[number - 1],
    )


class Assessment(models.Model):
    class Instrument(models.TextChoices):
        PHQ9 = "phq9", "PHQ-9"

    class Band(models.TextChoices):
        MINIMAL = "minimal", "Minimal"
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        MODERATELY_SEVERE = "moderately_severe", "Moderately severe"
        SEVERE = "severe", "Severe"

    class Source(models.TextChoices):
        STAFF = "staff", "Staff"
        PORTAL = "portal", "Patient portal"

    class Difficulty(models.IntegerChoices):
        NOT = 0, "Not difficult at all"
        SOMEWHAT = 1, "Somewhat difficult"
        VERY = 2, "Very difficult"
        EXTREMELY = 3, "Extremely difficult"

    # Lower bound of each PHQ-9 severity band (Kroenke 2001).
    BAND_FLOORS = ((20, Band.SEVERE), (15, Band.MODERATELY_SEVERE), (10, Band.MODERATE),
                   (5, Band.MILD), (0, Band.MINIMAL))

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="assessments")

    instrument = models.CharField(max_length=8, choices=Instrument.choices, default=Instrument.PHQ9)
    item_1 = _item_field(1)
    item_2 = _item_field(2)
    item_3 = _item_field(3)
    item_4 = _item_field(4)
    item_5 = _item_field(5)
    item_6 = _item_field(6)
    item_7 = _item_field(7)
    item_8 = _item_field(8)
    item_9 = _item_field(9)
    difficulty = models.PositiveSmallIntegerField(
        choices=Difficulty.choices, null=True, blank=True
    )
    total = models.PositiveSmallIntegerField(editable=False)
    band = models.CharField(max_length=20, choices=Band.choices, editable=False)
    taken_at = models.DateTimeField(default=timezone.now, validators=[validate_date_in_range])
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.STAFF)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = OfPatientQuerySet.as_manager()

    class Meta:
        ordering = ["-taken_at"]
        indexes = [models.Index(fields=["patient", "taken_at"], name="assessment_patient_time")]
        constraints = [
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{field}__gte": 0, f"{field}__lte": 3}),
                    name=f"assessment_{field}_0_to_3",
                )
                for field in ITEM_FIELDS
            ),
            models.CheckConstraint(
                condition=Q(total__gte=0, total__lte=27), name="assessment_total_0_to_27"
            ),
        ]

    def __str__(self):
        return f"{self.get_instrument_display()} {self.total} for {self.patient.full_name}"

    def save(self, *args, **kwargs):
        self.score()
        super().save(*args, **kwargs)

    @classmethod
    def band_for(cls, total):
        for floor, band in cls.BAND_FLOORS:
            if total >= floor:
                return band
        raise ValueError(f"A PHQ-9 total cannot be negative: {total}")

    @property
    def items(self):
        return [getattr(self, field) for field in ITEM_FIELDS]

    def score(self):
        """Compute the stored total and band from the nine items."""
        self.total = sum(self.items)
        self.band = self.band_for(self.total)

    @property
    def endorses_self_harm(self):
        """Item 9 above 0 needs a same-day clinician review (CLINICAL.md)."""
        return (self.item_9 or 0) > 0


class MotorThresholdRecheck(models.Model):
    """A reason to measure the motor threshold again at the patient's next session, recorded by
    a clinician: a medication change (CLINICAL.md: re-check after one) or simply their request.
    It is answered by the first session after it whose record has a measured MT."""

    class Reason(models.TextChoices):
        MEDICATION = "medication", "Medication change"
        CLINICIAN = "clinician", "Clinician's request"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="mt_rechecks")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(blank=True, max_length=FREE_TEXT_MAX_LENGTH,
                            help_text="What changed (drug, dose, date), or why the re-check is wanted.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    requested_at = models.DateTimeField(default=timezone.now, validators=[validate_date_in_range])

    objects = OfPatientQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["patient", "requested_at"], name="mt_recheck_patient_time")]
        verbose_name = "motor-threshold re-check request"

    def __str__(self):
        return f"{self.get_reason_display()} for {self.patient.full_name}"


class PatientFlagQuerySet(OfPatientQuerySet):
    def open(self):
        return self.filter(resolved_at__isnull=True)


class PatientFlag(models.Model):
    class Kind(models.TextChoices):
        SAFETY = "safety", "Safety (PHQ-9 item 9)"
        OVERDUE_MAINTENANCE = "overdue_maintenance", "Overdue maintenance"
        MISSED_APPOINTMENTS = "missed_appointments", "Missed appointments"
        WORSENING_SYMPTOMS = "worsening_symptoms", "Worsening symptoms"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    detail = models.TextField(blank=True, max_length=FREE_TEXT_MAX_LENGTH)
    plan = models.ForeignKey(
        MaintenancePlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="flags"
    )
    raised_at = models.DateTimeField(default=timezone.now, validators=[validate_date_in_range])
    resolved_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty on a resolved flag means the system resolved it",
    )
    resolution_note = models.TextField(blank=True, max_length=FREE_TEXT_MAX_LENGTH)
    # For an overdue flag: the due date it is about, so that a flag staff resolved is not
    # raised again for the same missed visit.
    due_on = models.DateField(null=True, blank=True, validators=[validate_date_in_range])
    snoozed_until = models.DateField(
        null=True, blank=True, help_text="Hidden from the worklist until this day",
        validators=[validate_date_in_range],
    )
    # Set when the flag went out in a clinician's daily digest, so it goes out once.
    digested_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])

    objects = PatientFlagQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            # The overdue job may run twice or in two workers: the second insert fails.
            models.UniqueConstraint(
                fields=["patient", "kind"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_flag_per_patient_kind",
                violation_error_message="This patient already has an open flag of this kind.",
            ),
        ]
        indexes = [
            # The staff worklist reads open flags only.
            models.Index(
                fields=["kind", "raised_at"],
                condition=Q(resolved_at__isnull=True),
                name="flag_open_by_kind",
            ),
            # flag_overdue_patients: missed-appointments flags resolved since its last run.
            models.Index(
                fields=["resolved_at"],
                condition=Q(kind="missed_appointments"),
                name="flag_missed_resolved",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.patient.full_name}"

    @property
    def is_open(self):
        return self.resolved_at is None


class OutreachAttempt(models.Model):
    """Staff trying to reach a flagged patient: the worklist's history of who called whom."""

    class Channel(models.TextChoices):
        PHONE = "phone", "Phone"
        SMS = "sms", "SMS"
        EMAIL = "email", "E-mail"

    class Outcome(models.TextChoices):
        REACHED = "reached", "Reached the patient"
        VOICEMAIL = "voicemail", "Left a message"
        NO_ANSWER = "no_answer", "No answer"
        WRONG_NUMBER = "wrong_number", "Wrong number or address"
        SENT = "sent", "Message sent"
        CALLBACK = "callback", "Asked to be called back"

    flag = models.ForeignKey(PatientFlag, on_delete=models.CASCADE, related_name="outreach")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    note = models.TextField(blank=True, max_length=FREE_TEXT_MAX_LENGTH)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now, validators=[validate_date_in_range])

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.get_channel_display()}: {self.get_outcome_display()}"
