"""When and where: clinics, chairs, hours, appointments and what happened in them."""

import string
import uuid
import zoneinfo
from functools import cached_property

from django.conf import settings
from django.contrib.postgres.fields import RangeBoundary, RangeOperators
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models
from django.db.models import Case, F, Func, Q, Subquery, Value, When
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

from patients.models import behind_wall
from tmsclinic.inputs import FREE_TEXT_MAX_LENGTH, validate_date_in_range, validate_one_line
from tmsclinic.roles import clinics_of

from .constraints import PostgresExclusionConstraint


def validate_time_zone(value):
    # Validated rather than given as choices: the list depends on the machine's tz database,
    # and choices would make migrations differ from one machine to the next.
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(f"“{value}” is not a time zone name such as Europe/London.") from error


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = models.DateTimeField()  # only ever used inside the exclusion constraint


class ClinicQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The user's clinics, their home clinic first; every clinic for a superuser."""
        clinic_ids = clinics_of(user)
        home = ClinicMembership.objects.filter(user=user, is_home=True).values("clinic_id")[:1]
        first = Case(When(pk=Subquery(home), then=Value(0)), default=Value(1))
        if clinic_ids is None:  # a superuser sees every clinic, their own home clinic still first
            return self.order_by(first, "name")
        return self.filter(pk__in=clinic_ids).order_by(first, "name")


class Clinic(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[validate_one_line])
    time_zone = models.CharField(
        max_length=64,
        validators=[validate_time_zone, validate_one_line],
        help_text="Opening hours, schedules and reminders are reckoned in this zone",
    )
    address = models.TextField(blank=True, max_length=FREE_TEXT_MAX_LENGTH)
    phone = PhoneNumberField(blank=True)
    # Reminder rules; empty means the installation's settings (TMS_REMINDER_*).
    reminder_day_before_at = models.TimeField(
        null=True, blank=True, help_text="Clinic time of the day-before reminder; empty for the default (17:00)"
    )
    reminder_hours_before = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Hours before the session for the last reminder; empty for the default (2)"
    )
    crisis_help = models.TextField(
        max_length=FREE_TEXT_MAX_LENGTH,
        default="If you are thinking about harming yourself, call or text 988 (Suicide & Crisis Lifeline) now, "
        "or call 911 in an emergency.",
        help_text="Shown to a patient at once when their PHQ-9 answers need a same-day review",
    )
    crisis_phone = models.CharField(max_length=32, default="988", help_text="Crisis line the portal links to",
                                    validators=[validate_one_line])
    staff = models.ManyToManyField(settings.AUTH_USER_MODEL, through="ClinicMembership", related_name="clinics",
                                   blank=True)

    objects = ClinicQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @cached_property
    def tz(self):
        return zoneinfo.ZoneInfo(self.time_zone)

    def local(self, moment):
        """An aware datetime shown as wall-clock time in this clinic."""
        return timezone.localtime(moment, self.tz)

    def today(self):
        return timezone.localtime(timezone.now(), self.tz).date()


class ClinicMembership(models.Model):
    """A staff member works at this clinic: they see its patients, day and reports. One of a
    member's clinics is their home, where their day view opens."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clinic_memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    is_home = models.BooleanField(default=False, help_text="The clinic whose day this member sees first")

    class Meta:
        ordering = ["-is_home", "clinic__name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="one_membership_per_clinic"),
            models.UniqueConstraint(fields=["user"], condition=Q(is_home=True), name="one_home_clinic"),
        ]

    def __str__(self):
        return f"{self.user} at {self.clinic}{' (home)' if self.is_home else ''}"


class Chair(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="chairs")
    name = models.CharField(max_length=50, validators=[validate_one_line])
    device_model = models.CharField(max_length=100, blank=True, validators=[validate_one_line])
    coil = models.CharField(max_length=100, blank=True, validators=[validate_one_line])
    active = models.BooleanField(default=True, help_text="Untick while the chair is out of service")

    class Meta:
        ordering = ["clinic", "name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="chair_name_unique_in_clinic"),
        ]

    def __str__(self):
        return f"{self.name} ({self.clinic})"


class OpeningHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="opening_hours")
    # Several rows for one weekday make a split day (e.g. closed for lunch).
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens_at = models.TimeField(help_text="Clinic local time")
    closes_at = models.TimeField(help_text="Clinic local time")

    class Meta:
        ordering = ["clinic", "weekday", "opens_at"]
        verbose_name_plural = "opening hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")),
                name="hours_close_after_open",
                violation_error_message="Closing time must be after opening time.",
            ),
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6), name="hours_weekday_valid"
            ),
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}–{self.closes_at:%H:%M}"


class Closure(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="closures")
    starts_on = models.DateField(validators=[validate_date_in_range])
    ends_on = models.DateField(help_text="Last closed day (inclusive)", validators=[validate_date_in_range])
    reason = models.CharField(max_length=200, blank=True, validators=[validate_one_line])

    class Meta:
        ordering = ["clinic", "starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")),
                name="closure_ends_on_or_after_start",
                violation_error_message="The last closed day cannot be before the first.",
            ),
        ]

    def __str__(self):
        if self.starts_on == self.ends_on:
            return f"{self.clinic} closed {self.starts_on}"
        return f"{self.clinic} closed {self.starts_on} to {self.ends_on}"


class AppointmentQuerySet(models.QuerySet):
    def visible_to(self, user, *, also=()):
        """Behind the clinic wall: the appointments of the patients the user may see."""
        wall = behind_wall(user, also=also)
        return self if wall is None else self.filter(patient_id__in=wall)

    def live(self):
        """Appointments that hold their chair and their patient's time."""
        return self.exclude(status=Appointment.Status.CANCELLED)

    def to_come(self):
        """Booked or checked in: still to be held (not completed, cancelled or missed)."""
        return self.filter(status__in=Appointment.TO_COME)

    def counted_against(self, course):
        """The course's treatment sessions booked or given: what its authorisation counts."""
        return self.filter(course=course, kind__in=Appointment.TREATMENT_KINDS, status__in=Appointment.USED)

    def on_chair(self, chair):
        return self.filter(chair=chair)

    def between(self, start, end):
        """Overlapping the half-open interval [start, end)."""
        return self.filter(starts_at__lt=end, ends_at__gt=start)

    def clashing(self, start, end, *, exclude=None):
        """Live appointments a booking of [start, end) would overlap: the overlap rule that the
        database's exclusion constraints enforce, asked in Python to say why in clinic words."""
        return self.live().between(start, end).exclude(pk=exclude)


class Appointment(models.Model):
    class Kind(models.TextChoices):
        MAPPING = "mapping", "Mapping and motor threshold"
        ACUTE = "acute", "Acute session"
        MAINTENANCE = "maintenance", "Maintenance session"
        REINTRODUCTION = "reintroduction", "Reintroduction session"
        CONSULT = "consult", "Consultation"

    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CHECKED_IN = "checked_in", "Checked in"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"

    class Via(models.TextChoices):
        STAFF = "staff", "Staff"
        PORTAL = "portal", "Patient portal"

    # Still to be held: may be checked in, cancelled or completed, and is reminded about.
    TO_COME = (Status.BOOKED, Status.CHECKED_IN)
    # Counted against a course's planned and authorised sessions.
    USED = (Status.BOOKED, Status.CHECKED_IN, Status.COMPLETED)
    TREATMENT_KINDS = (Kind.ACUTE, Kind.REINTRODUCTION, Kind.MAINTENANCE)

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointments"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="appointments")
    chair = models.ForeignKey(Chair, on_delete=models.PROTECT, related_name="appointments")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="technician_appointments",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    course = models.ForeignKey(
        "patients.TreatmentCourse",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="appointments",
    )
    plan = models.ForeignKey(
        "patients.MaintenancePlan",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="appointments",
    )
    starts_at = models.DateTimeField(validators=[validate_date_in_range])
    ends_at = models.DateTimeField(validators=[validate_date_in_range])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BOOKED)
    booked_via = models.CharField(max_length=8, choices=Via.choices, default=Via.STAFF)
    # Booked by the patient in the portal past the plan's grace days: staff see the lapse ended.
    booked_after_lapse = models.BooleanField(default=False, editable=False)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    cancel_reason = models.CharField(max_length=200, blank=True, validators=[validate_one_line])
    # Who ended it without a session: kept, so the record says who decided what did not happen.
    # Empty with a time: the patient's reminder link (cancelled) or the no-show job (missed).
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    marked_no_show_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    marked_no_show_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                          blank=True, related_name="+")
    # A clinician's approval to book beyond the course's authorised sessions.
    authorisation_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    authorisation_override_note = models.CharField(max_length=200, blank=True, validators=[validate_one_line])
    cancelled_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="The patient confirmed from a reminder",
                                        validators=[validate_date_in_range])
    checked_in_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        indexes = [
            # Day and week views, availability: one chair or clinic over a time range.
            models.Index(fields=["chair", "starts_at"], name="appt_chair_start"),
            models.Index(fields=["clinic", "starts_at"], name="appt_clinic_start"),
            # Free slots from now on (services.booking.open_slots): the appointments not yet over,
            # without reading the clinic's whole history that starts before the range ends.
            models.Index(fields=["clinic", "ends_at"], name="appt_clinic_end"),
            # Whether a patient still has an appointment at a clinic (BookedAt's triggers).
            models.Index(fields=["clinic", "patient"], name="appt_clinic_patient"),
            # Patient page and maintenance recompute.
            models.Index(fields=["patient", "starts_at"], name="appt_patient_start"),
            # flag_overdue_patients: no-shows recorded since its last run.
            models.Index(fields=["updated_at"], condition=Q(status="no_show"), name="appt_no_show_updated"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="appt_ends_after_start",
                violation_error_message="An appointment must end after it starts.",
            ),
            # The last guard against double-booking; see scheduling.services.book_appointment.
            PostgresExclusionConstraint(
                name="appt_no_chair_overlap",
                expressions=[
                    ("chair", RangeOperators.EQUAL),
                    (TsTzRange("starts_at", "ends_at", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
                condition=~Q(status="cancelled"),
            ),
            PostgresExclusionConstraint(
                name="appt_no_patient_overlap",
                expressions=[
                    ("patient", RangeOperators.EQUAL),
                    (TsTzRange("starts_at", "ends_at", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
                condition=~Q(status="cancelled"),
            ),
        ]

    def __str__(self):
        local = self.clinic.local(self.starts_at) if self.clinic_id else self.starts_at
        return f"{self.get_kind_display()} for {self.patient.full_name} at {local:%Y-%m-%d %H:%M}"

    @property
    def is_live(self):
        return self.status != self.Status.CANCELLED

    def overlap_errors(self):
        """Clinic-words reasons this appointment collides with another live one."""
        if not (self.is_live and self.starts_at and self.ends_at and self.ends_at > self.starts_at):
            return {}
        others = Appointment.objects.clashing(self.starts_at, self.ends_at, exclude=self.pk)
        errors = {}
        if self.chair_id and others.filter(chair_id=self.chair_id).exists():
            errors["chair"] = "This chair is already booked at that time."
        if self.patient_id and others.filter(patient_id=self.patient_id).exists():
            errors["patient"] = "This patient already has an appointment at that time."
        return errors

    def clean(self):
        errors = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = "An appointment must end after it starts."
        if self.chair_id and self.clinic_id and self.chair.clinic_id != self.clinic_id:
            errors["chair"] = "This chair belongs to another clinic."
        errors.update({k: v for k, v in self.overlap_errors().items() if k not in errors})
        if errors:
            raise ValidationError(errors)


class BookedAt(models.Model):
    """A patient has an appointment (of any status) at a clinic: one row for each pair, kept by
    the database itself — triggers on the appointments' table (migration 0021) add the pair
    when an appointment is written and take it away when the last one there goes — so no code
    path, bulk write or admin page can leave it behind. It is the booked half of the clinic
    wall (patients.models.behind_wall), read as a plain index range instead of a walk down the
    appointments' index on every walled query. Never written by the application; a bulk load
    that turns the triggers off (seed_demo) calls :meth:`rebuild` after. On SQLite a later
    migration that remakes the appointments' table (most field changes do) drops its triggers
    with it: such a migration must create them again (tests/patients/test_wall_walk.py fails
    without them)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+", db_index=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            # Also the wall's index: a clinic's booked patients from the index alone.
            models.UniqueConstraint(fields=["clinic", "patient"], name="booked_at_clinic_patient"),
        ]

    def __str__(self):
        return f"patient {self.patient_id} booked at clinic {self.clinic_id}"

    @classmethod
    def rebuild(cls):
        """Every pair again from the appointments' rows, in a fixed order (the same ids on
        every backend)."""
        table = connection.ops.quote_name(cls._meta.db_table)
        appointments = connection.ops.quote_name(Appointment._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (a model's table)
            cursor.execute(f"INSERT INTO {table} (clinic_id, patient_id) SELECT DISTINCT clinic_id, patient_id "  # noqa: S608
                           f"FROM {appointments} ORDER BY clinic_id, patient_id")


class SessionRecord(models.Model):
    class Cpt(models.TextChoices):
        FIRST = "90867", "90867 — first session, with mapping and motor threshold"
        SUBSEQUENT = "90868", "90868 — subsequent session"
        MT = "90869", "90869 — motor threshold re-determined"

    appointment = models.OneToOneField(
        Appointment, on_delete=models.CASCADE, related_name="session_record"
    )
    # Plausible ranges (issue 12): a typo such as 300 % MT is refused, not recorded.
    pulses_delivered = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(10_000)])
    intensity_percent_mt = models.PositiveSmallIntegerField(
        "intensity (% MT)", validators=[MinValueValidator(1), MaxValueValidator(150)])
    motor_threshold = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(20), MaxValueValidator(100)],
        help_text="Motor threshold used, % of machine output",
    )
    # Whether the MT above was measured at this session (a re-determination, CPT 90869) or
    # carried from the last measurement: a record never says an MT was measured when it was not.
    mt_measured = models.BooleanField("motor threshold measured at this session", default=False)
    # Derived when the session is completed (scheduling.services.billing); a clinician may
    # change it, with a reason.
    cpt_code = models.CharField("CPT code", max_length=5, choices=Cpt.choices, blank=True)
    cpt_code_reason = models.CharField("why the CPT code was changed", max_length=200, blank=True,
                                       validators=[validate_one_line])
    cpt_code_changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                            blank=True, related_name="+")
    coil_position = models.CharField(max_length=100, blank=True, validators=[validate_one_line])
    side_effects = models.TextField(blank=True, max_length=FREE_TEXT_MAX_LENGTH)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    notes = models.TextField(blank=True, max_length=FREE_TEXT_MAX_LENGTH)
    recorded_at = models.DateTimeField(default=timezone.now, validators=[validate_date_in_range])

    def __str__(self):
        return f"Session record for {self.appointment}"


class Reminder(models.Model):
    """The reminders outbox: written with the booking, sent by a beat task."""

    class Kind(models.TextChoices):
        DAY_BEFORE = "day_before", "Day before"
        HOURS_BEFORE = "hours_before", "Hours before"
        MAINTENANCE_DUE = "maintenance_due", "Maintenance due soon"

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        SMS = "sms", "SMS"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, null=True, blank=True, related_name="reminders"
    )
    plan = models.ForeignKey(
        "patients.MaintenancePlan",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reminders",
    )
    due_on = models.DateField(
        null=True, blank=True, help_text="For plan reminders: the due date this one is about",
        validators=[validate_date_in_range],
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    scheduled_for = models.DateTimeField(validators=[validate_date_in_range])
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker took it to send",
                                      validators=[validate_date_in_range])
    last_error = models.TextField(blank=True, max_length=FREE_TEXT_MAX_LENGTH)
    sent_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scheduled_for"]
        constraints = [
            models.CheckConstraint(
                condition=Q(appointment__isnull=False, plan__isnull=True)
                | Q(appointment__isnull=True, plan__isnull=False, due_on__isnull=False),
                name="reminder_about_appointment_or_plan",
                violation_error_message="A reminder is about one appointment or one plan's due date.",
            ),
            # A second send of the same reminder is impossible, whatever the workers do.
            models.UniqueConstraint(
                fields=["appointment", "kind", "channel"],
                condition=Q(appointment__isnull=False),
                name="reminder_once_per_appointment",
            ),
            models.UniqueConstraint(
                fields=["plan", "due_on", "kind", "channel"],
                condition=Q(plan__isnull=False),
                name="reminder_once_per_plan_due_date",
            ),
        ]
        indexes = [
            # send_due_reminders reads pending rows by time.
            models.Index(
                fields=["scheduled_for"], condition=Q(status="pending"), name="reminder_pending_due"
            ),
            # ... and each run first looks for rows a dead worker left "sending".
            models.Index(fields=["claimed_at"], condition=Q(status="sending"), name="reminder_sending_claimed"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} by {self.get_channel_display()} at {self.scheduled_for}"


class JobMark(models.Model):
    """How far a periodic job has looked, so that its next run need only look at what changed
    since (the flag job reads the no-shows recorded after its last run). Losing a mark costs
    one slower run, never a flag."""

    job = models.CharField(max_length=60, primary_key=True, validators=[validate_one_line])
    reached = models.DateTimeField(validators=[validate_date_in_range])

    def __str__(self):
        return f"{self.job}: {self.reached:%Y-%m-%d %H:%M} UTC"


# --- Bringing lapsed patients back: outreach cadences and the waitlist ------------------------


PLACEHOLDERS = ("first_name", "clinic", "clinic_phone", "due_on", "link")


def placeholder_errors(text):
    """What is wrong with a message template's placeholders, in an admin's words, or []."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
    except ValueError:
        return ["A brace is not closed. Write {{ or }} for a brace that is not a placeholder."]
    unknown = sorted({field for field in fields if field not in PLACEHOLDERS})
    if unknown:
        return [f"Unknown placeholder{'s' if len(unknown) > 1 else ''} {', '.join('{' + f + '}' for f in unknown)}: "
                f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}."]
    return []


class OutreachTemplate(models.Model):
    """A message to a patient who has fallen off their schedule, sent by a cadence's step or by
    staff from the worklist. The body may use {first_name}, {clinic}, {clinic_phone},
    {due_on} and {link} (the signed self-booking link); nothing clinical."""

    name = models.CharField(max_length=100, unique=True, validators=[validate_one_line])
    subject = models.CharField(max_length=150, validators=[validate_one_line],
                               help_text="The e-mail's subject (an SMS has none)")
    body = models.TextField(max_length=FREE_TEXT_MAX_LENGTH, help_text=(
        "Plain text. May use {first_name}, {clinic}, {clinic_phone}, {due_on} and {link}; an SMS "
        "should stay under 320 characters with the link."))
    active = models.BooleanField(default=True, help_text="Offered to staff on the worklist")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {name: placeholder_errors(getattr(self, name)) for name in ("subject", "body")}
        if errors := {name: found for name, found in errors.items() if found}:
            raise ValidationError(errors)


class OutreachCadence(models.Model):
    """The ladder of messages a newly raised flag sets going: steps on days after the flag.
    One cadence per flag kind for every clinic, and a clinic may have its own."""

    class FlagKind(models.TextChoices):
        OVERDUE_MAINTENANCE = "overdue_maintenance", "Overdue maintenance"
        MISSED_APPOINTMENTS = "missed_appointments", "Missed appointments"

    name = models.CharField(max_length=100, validators=[validate_one_line])
    flag_kind = models.CharField(max_length=24, choices=FlagKind.choices)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, null=True, blank=True, related_name="cadences",
                               help_text="Empty: every clinic that has no cadence of its own for this kind")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["flag_kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["flag_kind", "clinic"], condition=Q(clinic__isnull=False),
                                    name="one_cadence_per_clinic_kind",
                                    violation_error_message="This clinic already has a cadence for this kind."),
            models.UniqueConstraint(fields=["flag_kind"], condition=Q(clinic__isnull=True),
                                    name="one_default_cadence_per_kind",
                                    violation_error_message="There is already a cadence for every clinic for "
                                                            "this kind."),
        ]

    def __str__(self):
        return self.name


class CadenceStep(models.Model):
    class Action(models.TextChoices):
        FIRST_CHANNEL = "first", "Message by the patient's preferred consented channel"
        OTHER_CHANNEL = "other", "Message by the other consented channel"
        CALL = "call", "Call task on the worklist"

    cadence = models.ForeignKey(OutreachCadence, on_delete=models.CASCADE, related_name="steps")
    day = models.PositiveSmallIntegerField(validators=[MaxValueValidator(365)],
                                           help_text="Days after the flag was raised, on the clinic's calendar")
    action = models.CharField(max_length=8, choices=Action.choices)
    template = models.ForeignKey(OutreachTemplate, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="steps", help_text="The message (not for a call task)")

    class Meta:
        ordering = ["cadence", "day"]
        constraints = [
            models.UniqueConstraint(fields=["cadence", "day"], name="one_cadence_step_a_day",
                                    violation_error_message="This cadence already has a step on that day."),
        ]

    def __str__(self):
        return f"Day {self.day}: {self.get_action_display()}"

    def clean(self):
        if self.action == self.Action.CALL and self.template_id:
            raise ValidationError({"template": "A call task sends no message: leave the template empty."})
        if self.action != self.Action.CALL and not self.template_id:
            raise ValidationError({"template": "Choose the message this step sends."})


class OutreachMessage(models.Model):
    """The outreach ledger, like the reminders outbox: one row per cadence step per flag (or one
    sent by hand from the worklist), sent by a beat task exactly once. A call step's row is the
    call task the worklist shows."""

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        SMS = "sms", "SMS"
        CALL = "call", "Call task"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    flag = models.ForeignKey("patients.PatientFlag", on_delete=models.CASCADE, related_name="messages")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="outreach_messages")
    step = models.ForeignKey(CadenceStep, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="messages", help_text="Empty: sent by hand from the worklist")
    # The step's day, kept: the dashboard counts returns per step even after a cadence changes.
    step_day = models.PositiveSmallIntegerField(null=True, blank=True)
    template = models.ForeignKey(OutreachTemplate, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="messages")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    scheduled_for = models.DateTimeField(validators=[validate_date_in_range])
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    sent_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    last_error = models.TextField(blank=True, max_length=FREE_TEXT_MAX_LENGTH)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+", help_text="Empty: sent by the cadence")
    # What the patient did with the message's link.
    link_opened_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    appointment = models.ForeignKey(Appointment, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", help_text="Booked from this message's link")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scheduled_for"]
        constraints = [
            # A step goes out once per flag, whatever the workers do.
            models.UniqueConstraint(fields=["flag", "step"], condition=Q(step__isnull=False),
                                    name="outreach_once_per_flag_step"),
        ]
        indexes = [
            models.Index(fields=["scheduled_for"], condition=Q(status="pending"), name="outreach_pending_due"),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} for flag {self.flag_id} ({self.get_status_display()})"


def validate_weekdays(value):
    if not all(c in "0123456" for c in value) or len(set(value)) != len(value):
        raise ValidationError("Weekdays are digits 0 (Monday) to 6 (Sunday), each at most once.")


class WaitlistEntry(models.Model):
    """A patient's wish for a sooner or better time: offered freed chair time when it comes."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        BOOKED = "booked", "Booked from an offer"
        WITHDRAWN = "withdrawn", "Withdrawn"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="waitlist")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="waitlist")
    kind = models.CharField(max_length=16, choices=Appointment.Kind.choices, default=Appointment.Kind.MAINTENANCE)
    earlier_than = models.ForeignKey(Appointment, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+", help_text="A booked visit the patient would like sooner")
    weekdays = models.CharField(max_length=7, blank=True, validators=[validate_weekdays, validate_one_line],
                                help_text="Days that suit, 0 = Monday … 6 = Sunday; empty for any day")
    earliest_time = models.TimeField(null=True, blank=True, help_text="Clinic time; empty for opening")
    latest_time = models.TimeField(null=True, blank=True, help_text="Latest start, clinic time; empty for closing")
    from_date = models.DateField(null=True, blank=True, validators=[validate_date_in_range])
    until_date = models.DateField(null=True, blank=True, validators=[validate_date_in_range])
    note = models.CharField(max_length=200, blank=True, validators=[validate_one_line])
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    via = models.CharField(max_length=8, choices=Appointment.Via.choices, default=Appointment.Via.STAFF)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, validators=[validate_date_in_range])
    closed_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])

    class Meta:
        ordering = ["created_at"]
        verbose_name_plural = "waitlist entries"
        constraints = [
            models.UniqueConstraint(fields=["patient", "clinic"], condition=Q(status="waiting"),
                                    name="one_waiting_entry_per_patient_clinic",
                                    violation_error_message="This patient is already on this clinic's waitlist."),
            models.CheckConstraint(condition=Q(earliest_time__isnull=True) | Q(latest_time__isnull=True)
                                   | Q(earliest_time__lte=F("latest_time")),
                                   name="waitlist_times_in_order",
                                   violation_error_message="The earliest time must come before the latest."),
            models.CheckConstraint(condition=Q(from_date__isnull=True) | Q(until_date__isnull=True)
                                   | Q(from_date__lte=F("until_date")),
                                   name="waitlist_dates_in_order",
                                   violation_error_message="The first day must come before the last."),
        ]
        indexes = [
            models.Index(fields=["clinic", "created_at"], condition=Q(status="waiting"), name="waitlist_waiting"),
        ]

    def __str__(self):
        return f"Waitlist: {self.patient} at {self.clinic}"


class SlotOffer(models.Model):
    """A freed chair time offered to one waitlist entry, held for it for a few minutes: the
    first of the offered patients to accept books it (``book_appointment`` decides)."""

    class Status(models.TextChoices):
        PENDING = "pending", "To send"
        SENDING = "sending", "Sending"
        OPEN = "open", "Offered, holding"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Hold expired"
        GONE = "gone", "Taken by someone else"
        SKIPPED = "skipped", "Not sent"
        FAILED = "failed", "Failed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="slot_offers")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="slot_offers")
    chair = models.ForeignKey(Chair, on_delete=models.CASCADE, related_name="slot_offers")
    starts_at = models.DateTimeField(validators=[validate_date_in_range])
    ends_at = models.DateTimeField(validators=[validate_date_in_range])
    channel = models.CharField(max_length=8, choices=Reminder.Channel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    sent_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    expires_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    answered_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    last_error = models.TextField(blank=True, max_length=FREE_TEXT_MAX_LENGTH)
    appointment = models.ForeignKey(Appointment, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", help_text="The booking the accepted offer made")
    freed_slot = models.ForeignKey("FreedSlot", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="offers", help_text="The freed chair time this offer is of")
    # When the patient was told that someone else took it (an offer that had gone out).
    gone_told_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "created_at"]
        constraints = [
            # One offer of one chair time to one wish, ever.
            models.UniqueConstraint(fields=["entry", "chair", "starts_at"], name="offer_once_per_entry_slot"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="offer_ends_after_start"),
        ]
        indexes = [
            models.Index(fields=["chair", "starts_at"], name="offer_chair_start"),
            models.Index(fields=["created_at"], condition=Q(status__in=["pending", "open"]), name="offer_live"),
        ]

    def __str__(self):
        return f"Offer of {self.chair} at {self.starts_at:%Y-%m-%d %H:%M} to {self.patient}"


class FreedSlot(models.Model):
    """Chair time that came free — a cancellation, the old time of a move, a chair back in
    service — written in the transaction that freed it: the waitlist's outbox. The offer job
    works from these rows, so a lost message to the worker loses no offer."""

    class Reason(models.TextChoices):
        CANCELLED = "cancelled", "Cancelled"
        MOVED = "moved", "Moved to another time"
        CHAIR_BACK = "chair_back", "Chair back in service"

    class Status(models.TextChoices):
        OPEN = "open", "Being offered"
        FILLED = "filled", "Booked from the waitlist"
        UNFILLED = "unfilled", "No taker"

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="freed_slots")
    chair = models.ForeignKey(Chair, on_delete=models.CASCADE, related_name="freed_slots")
    starts_at = models.DateTimeField(validators=[validate_date_in_range])
    ends_at = models.DateTimeField(validators=[validate_date_in_range])
    reason = models.CharField(max_length=12, choices=Reason.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # When the offer job next looks at it: now, or the end of quiet hours.
    look_at = models.DateTimeField(default=timezone.now, validators=[validate_date_in_range])
    closed_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_in_range])
    note = models.CharField(max_length=200, blank=True, validators=[validate_one_line],
                            help_text="Why it closed without a booking")
    created_at = models.DateTimeField(default=timezone.now, validators=[validate_date_in_range])

    class Meta:
        ordering = ["starts_at", "chair"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="freed_ends_after_start"),
        ]
        indexes = [
            # offer_freed_slots reads the open rows due for a look.
            models.Index(fields=["look_at"], condition=Q(status="open"), name="freed_open_look_at"),
            # The day view: one clinic's freed times of a day.
            models.Index(fields=["clinic", "starts_at"], name="freed_clinic_start"),
        ]

    def __str__(self):
        return f"{self.chair} free from {self.starts_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"
