"""Forms of the staff pages: booking and the appointment's actions, starting a course, the
worklist's row actions and filters, maintenance plans, and the outcomes report's filters."""

import datetime
import uuid as uuid_module

from crispy_forms.helper import FormHelper
from django import forms
from django.utils import timezone

from patients.models import (
    CourseTemplate,
    MotorThresholdRecheck,
    OutreachAttempt,
    Patient,
    PatientFlag,
    PlanTemplate,
    Protocol,
    TreatmentCourse,
)
from patients.outcomes import DEFAULT_MONTHS
from patients.services import CLINICAL_KINDS, snooze_until_error
from tmsclinic.inputs import OneLineField, SaneDateField, SaneDateTimeField, iso_moment

from ..models import Appointment, Chair, Clinic, SessionRecord
from ..services import motor_threshold


def aware_in(clinic, value):
    """A wall-clock datetime typed by staff, read in the clinic's zone. A time that does not
    exist there (the hour skipped when clocks go forward) is refused rather than guessed."""
    aware = value.replace(tzinfo=clinic.tz)
    round_trip = aware.astimezone(datetime.UTC).astimezone(clinic.tz)
    if round_trip.replace(tzinfo=None) != value.replace(tzinfo=None):
        raise forms.ValidationError("That time does not exist on that day: the clocks change then.")
    return aware


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class BookingForm(forms.Form):
    patient = forms.ModelChoiceField(
        queryset=Patient.objects.active(),
        widget=forms.HiddenInput,
        error_messages={"required": "Choose a patient.", "invalid_choice": "Choose a patient from the search."},
    )
    chair = forms.ModelChoiceField(
        queryset=Chair.objects.filter(active=True).select_related("clinic"),
        error_messages={"invalid_choice": "Choose one of this clinic's chairs in service."},
    )
    starts_at = SaneDateTimeField(
        label="Starts at (clinic time)", widget=LocalDateTimeInput(), input_formats=["%Y-%m-%dT%H:%M"]
    )
    kind = forms.ChoiceField(choices=Appointment.Kind.choices, initial=Appointment.Kind.ACUTE)
    override_authorisation = forms.BooleanField(
        required=False, label="I approve a session beyond the course's authorisation (clinicians only)"
    )
    override_note = OneLineField(required=False, max_length=200, label="Reason for the approval")

    def __init__(self, *args, patients, chairs, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the user's clinics' patients and chairs: another clinic's is "not a choice".
        self.fields["patient"].queryset = patients
        self.fields["chair"].queryset = chairs.select_related("clinic")
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean(self):
        cleaned = super().clean()
        chair, starts_at = cleaned.get("chair"), cleaned.get("starts_at")
        if chair and starts_at:
            try:
                cleaned["starts_at"] = aware_in(chair.clinic, timezone.make_naive(starts_at, datetime.UTC)
                                                if timezone.is_aware(starts_at) else starts_at)
            except forms.ValidationError as error:
                self.add_error("starts_at", error)
        return cleaned


def booking_initial(query, *, patients, chairs):
    """Prefill the booking form from a clicked empty slot, a slot of the finder or a patient page
    link, with only the ``patients`` and ``chairs`` the user may book (their clinics'). The
    patient is named by uuid in links, or by pk as the picker's hidden field sends it."""
    initial = {}
    chair_id = query.get("chair", "")
    chair = chairs.filter(pk=chair_id).select_related("clinic").first() if chair_id.isdigit() else None
    if chair is not None:
        initial["chair"] = chair
    moment = iso_moment(query.get("starts_at", ""))
    if moment is not None:
        if timezone.is_aware(moment) and chair is not None:
            moment = chair.clinic.local(moment)
        initial["starts_at"] = moment.replace(tzinfo=None)
    wanted = query.get("patient", "")
    if wanted.isdigit():
        patient = patients.filter(pk=wanted).first() if len(wanted) < 19 else None
    else:
        try:
            patient = patients.filter(uuid=uuid_module.UUID(wanted)).first()
        except ValueError:
            patient = None
    if patient is not None:
        initial["patient"] = patient
    if query.get("kind") in Appointment.Kind.values:
        initial["kind"] = query["kind"]
    return initial


class CancelForm(forms.Form):
    reason = OneLineField(max_length=200, label="Reason for cancelling")


class RescheduleForm(forms.Form):
    """A time of the slot finder, as "<chair pk>@<ISO moment>", on a chair of ``clinic``."""

    slot = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    def clean_slot(self):
        chair_id, _, moment = self.cleaned_data["slot"].partition("@")
        try:
            chair = Chair.objects.select_related("clinic").get(pk=int(chair_id), active=True, clinic=self.clinic)
        except (ValueError, Chair.DoesNotExist) as error:
            raise forms.ValidationError("Choose one of the proposed times.") from error
        starts_at = iso_moment(moment)
        if starts_at is None or timezone.is_naive(starts_at):
            raise forms.ValidationError("Choose one of the proposed times.")
        return chair, starts_at


class SessionRecordForm(forms.ModelForm):
    """What was delivered at a session. The motor threshold is entered only when it was
    measured at this session — the last measurement is a hint beside the box, never its value —
    and is required when a re-check is due. Pulses or intensity more than 10 % off the protocol
    are accepted once confirmed."""

    confirm_off_protocol = forms.BooleanField(
        required=False, widget=forms.HiddenInput,
        label="These values differ from the protocol, and they are what was delivered")

    class Meta:
        model = SessionRecord
        fields = ["pulses_delivered", "intensity_percent_mt", "motor_threshold", "coil_position", "side_effects",
                  "notes"]
        labels = {"motor_threshold": "Motor threshold measured at this session (% of machine output)"}
        widgets = {"side_effects": forms.Textarea(attrs={"rows": 2}), "notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, protocol=None, recheck_reasons=(), last_measurement=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.protocol = protocol
        mt = self.fields["motor_threshold"]
        mt.required = bool(recheck_reasons)
        last = "No motor threshold measured yet."
        if last_measurement is not None:
            when = last_measurement.appointment.clinic.local(last_measurement.appointment.starts_at)
            who = last_measurement.operator
            by = f" by {who.get_full_name() or who.get_username()}" if who else ""
            last = f"Last measured {last_measurement.motor_threshold} % on {when.day} {when:%b %Y}{by}."
        if recheck_reasons:
            mt.help_text = f"Re-check due: {'; '.join(recheck_reasons)}. {last}"
            mt.error_messages["required"] = ("Measure the motor threshold and enter it: a re-check is due "
                                              f"({'; '.join(recheck_reasons)}).")
        else:
            mt.help_text = f"{last} Leave blank unless you measured it at this session."

    def clean(self):
        cleaned = super().clean()
        if self.protocol is None or cleaned.get("confirm_off_protocol"):
            return cleaned
        differences = motor_threshold.off_protocol(self.protocol, pulses=cleaned.get("pulses_delivered"),
                                                   intensity=cleaned.get("intensity_percent_mt"))
        if differences:
            self.fields["confirm_off_protocol"].widget = forms.CheckboxInput()
            self.add_error("confirm_off_protocol", f"{'; '.join(differences)}. Tick the box if that is what was "
                                                   "delivered.")
        return cleaned


class MotorThresholdRecheckForm(forms.ModelForm):
    """A clinician records a medication change or asks for the MT to be measured next session."""

    class Meta:
        model = MotorThresholdRecheck
        fields = ["reason", "note"]
        widgets = {"note": forms.Textarea(attrs={"rows": 2})}


class CptCodeForm(forms.Form):
    """A clinician changes a session's billing code, saying why."""

    code = forms.ChoiceField(choices=SessionRecord.Cpt.choices, label="CPT code")
    reason = OneLineField(max_length=200, label="Why the code changes")


class AuthorisationForm(forms.Form):
    """The course's authorisation as the payer gave or extended it."""

    prior_auth_number = OneLineField(required=False, max_length=64, label="Prior authorisation number")
    authorised_sessions = forms.IntegerField(required=False, min_value=1, max_value=200, label="Authorised sessions")
    authorised_from = SaneDateField(required=False, label="Valid from", widget=forms.DateInput(attrs={"type": "date"}))
    authorised_until = SaneDateField(required=False, label="Valid until",
                                     widget=forms.DateInput(attrs={"type": "date"}))
    note = OneLineField(max_length=200, label="What changed and why",
                        help_text="E.g. “Extension approved by phone, 6 more sessions”.")


class StartCourseForm(forms.Form):
    protocol = forms.ModelChoiceField(queryset=Protocol.objects.filter(active=True))
    template = forms.ModelChoiceField(queryset=CourseTemplate.objects.all(), label="Course template")
    kind = forms.ChoiceField(choices=TreatmentCourse.Kind.choices, initial=TreatmentCourse.Kind.ACUTE)
    start_date = SaneDateField(widget=forms.DateInput(attrs={"type": "date"}))
    chair = forms.ModelChoiceField(queryset=Chair.objects.none())
    time_of_day = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    motor_threshold = forms.IntegerField(required=False, min_value=1, max_value=100,
                                         label="Motor threshold (% machine output), if known")
    authorised_sessions = forms.IntegerField(required=False, min_value=1, max_value=200)
    prior_auth_number = OneLineField(required=False, max_length=64, label="Prior authorisation number")
    authorised_until = SaneDateField(required=False, label="Authorised until",
                                     widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["chair"].queryset = Chair.objects.filter(clinic=clinic, active=True)
        self.fields["template"].initial = CourseTemplate.objects.filter(is_default=True).first()
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean_start_date(self):
        start_date = self.cleaned_data["start_date"]
        if start_date < self.clinic.today():
            raise forms.ValidationError("A course cannot start in the past.")
        return start_date


# --- The worklist -----------------------------------------------------------------------------


class WorklistFilterForm(forms.Form):
    """The worklist's filters, read from the query string."""

    clinic = forms.TypedChoiceField(label="Home clinic", coerce=int, empty_value=None, required=False)
    kind = forms.ChoiceField(label="Flag", choices=[("", "Every kind"), *PatientFlag.Kind.choices], required=False)

    CLINICAL_REVIEW = "clinical_review"

    def __init__(self, *args, clinics, clinical, **kwargs):
        super().__init__(*args, **kwargs)
        # Choices from the clinics the view has already read: no query of its own.
        self.fields["clinic"].choices = [("", "Any clinic"), *((clinic.pk, clinic.name) for clinic in clinics)]
        if not clinical:
            # Whoever may not read clinical detail sees safety and worsening flags as one kind.
            self.fields["kind"].choices = [
                ("", "Every kind"), *((kind, label) for kind, label in PatientFlag.Kind.choices
                                      if kind not in CLINICAL_KINDS), (self.CLINICAL_REVIEW, "Clinical review")]

    def kinds(self):
        """The flag kinds the chosen filter stands for (none chosen: None)."""
        kind = self.cleaned_data.get("kind")
        if not kind:
            return None
        return list(CLINICAL_KINDS) if kind == self.CLINICAL_REVIEW else [kind]


class SuggestedSlotForm(forms.Form):
    """The slot the worklist suggested, as the confirmation page sent it back: a chair of the
    patient's home clinic and a moment with its offset."""

    chair = forms.ModelChoiceField(queryset=Chair.objects.none(), widget=forms.HiddenInput,
                                   error_messages={"invalid_choice": "That chair is not at the patient's clinic."})
    starts_at = OneLineField(widget=forms.HiddenInput)

    def __init__(self, *args, chairs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["chair"].queryset = chairs

    def clean_starts_at(self):
        moment = iso_moment(self.cleaned_data["starts_at"])
        if moment is None or timezone.is_naive(moment):
            raise forms.ValidationError("The suggested time was not understood; open the suggestion again.")
        return moment


class OutreachForm(forms.ModelForm):
    class Meta:
        model = OutreachAttempt
        fields = ["channel", "outcome", "note"]
        widgets = {"note": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A call back is what a patient asks for from a message's link, not an outcome staff log.
        self.fields["outcome"].choices = [
            choice for choice in self.fields["outcome"].choices if choice[0] != OutreachAttempt.Outcome.CALLBACK]


class SendMessageForm(forms.Form):
    """A message sent by hand from the worklist: a template, by a channel the patient agreed to.
    ``templates`` is a list, read once for every row of the worklist."""

    template = forms.TypedChoiceField(label="Message", coerce=int, error_messages={
        "required": "Choose the message to send.", "invalid_choice": "Choose one of the messages listed."})
    channel = forms.ChoiceField(choices=[("sms", "SMS"), ("email", "E-mail")], label="By",
                                error_messages={"invalid_choice": "Choose SMS or e-mail."})

    def __init__(self, *args, templates, **kwargs):
        super().__init__(*args, **kwargs)
        self.templates = {template.pk: template for template in templates}
        self.fields["template"].choices = [("", "---------"), *((t.pk, t.name) for t in templates)]

    def clean_template(self):
        return self.templates[self.cleaned_data["template"]]


class SnoozeForm(forms.Form):
    until = SaneDateField(label="Hide until", widget=forms.DateInput(attrs={"type": "date"}),
                            error_messages={"required": "Choose the day the flag comes back.",
                                            "invalid": "Enter the date as YYYY-MM-DD."})

    def __init__(self, *args, today, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_until(self):
        until = self.cleaned_data["until"]
        if reason := snooze_until_error(self.today, until):
            raise forms.ValidationError(reason)
        return until


class ResolveForm(forms.Form):
    note = forms.CharField(label="What was done", max_length=1000, widget=forms.Textarea(attrs={"rows": 2}),
                           error_messages={"required": "Say why the flag is resolved."})


# --- Maintenance plans and the outcomes report -----------------------------------------------


class ChoosePlanTemplateForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=PlanTemplate.objects.all(), label="Plan template", empty_label=None,
        help_text="Its phases are copied into this patient's plan; you can change them on the next step.",
    )


class StartPlanForm(forms.Form):
    started_on = SaneDateField(label="Start date (first visit due)", widget=forms.DateInput(attrs={"type": "date"}))
    grace_days = forms.IntegerField(
        min_value=0, max_value=60, help_text="Days after a due date before the patient counts as overdue"
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    def clean_started_on(self):
        started_on = self.cleaned_data["started_on"]
        if started_on < self.clinic.today():
            raise forms.ValidationError("A plan cannot start in the past: its first visit would already be overdue.")
        return started_on


def _small_number():
    return forms.NumberInput(attrs={"class": "form-control form-control-sm"})


class PhaseForm(forms.Form):
    interval_days = forms.IntegerField(min_value=1, max_value=365, label="Every (days)", widget=_small_number())
    sessions_per_visit = forms.IntegerField(min_value=1, max_value=20, label="Sessions per visit",
                                            widget=_small_number())
    visits = forms.IntegerField(min_value=1, max_value=500, required=False, label="Visits (blank = ongoing)",
                                widget=_small_number())


class BasePhaseFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        phases = self.phases
        if not phases:
            raise forms.ValidationError("A plan needs at least one phase.")
        if any(visits is None for _, _, visits in phases[:-1]):
            raise forms.ValidationError("Only the last phase can be ongoing: the phases after it would never start.")

    @property
    def phases(self):
        """(interval_days, sessions_per_visit, visits) in order, leaving out removed and blank rows."""
        return [
            (form.cleaned_data["interval_days"], form.cleaned_data["sessions_per_visit"], form.cleaned_data["visits"])
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]


PhaseFormSet = forms.formset_factory(PhaseForm, formset=BasePhaseFormSet, extra=1, can_delete=True)


class PausePlanForm(forms.Form):
    until = SaneDateField(
        required=False, label="Paused until", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Nothing is due before this day. Leave empty to pause until someone resumes the plan.",
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    def clean_until(self):
        until = self.cleaned_data["until"]
        if until is not None and until < self.clinic.today():
            raise forms.ValidationError("A pause cannot end in the past.")
        return until


class EndPlanForm(forms.Form):
    reason = OneLineField(
        max_length=200, label="Reason for ending the plan",
        error_messages={"required": "Say why the plan ends, e.g. “moved away” or “reintroduction started”."},
    )


class EndCourseForm(forms.Form):
    outcome = forms.ChoiceField(
        label="How the course ends", widget=forms.RadioSelect,
        choices=[(TreatmentCourse.Status.COMPLETED, "Completed: the course was given"),
                 (TreatmentCourse.Status.DISCONTINUED, "Discontinued: it stops before it was given in full")],
        initial=TreatmentCourse.Status.COMPLETED,
    )
    reason = OneLineField(required=False, max_length=200, label="Reason or note",
                          help_text="Required when the course is discontinued, e.g. “side effects” or “moved away”.")
    cancel_leftover = forms.BooleanField(required=False, initial=True,
                                         label="Cancel the course's sessions still booked")

    def clean(self):
        data = super().clean()
        if data.get("outcome") == TreatmentCourse.Status.DISCONTINUED and not data.get("reason"):
            self.add_error("reason", "Say why the course is discontinued.")
        return data


class OutcomesReportForm(forms.Form):
    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), required=False, empty_label="All your clinics",
                                    widget=forms.Select(attrs={"class": "form-select"}))
    months = forms.IntegerField(
        min_value=0, max_value=120, required=False, label="Plan started at least (months ago)",
        widget=forms.NumberInput(attrs={"class": "form-control", "placeholder": DEFAULT_MONTHS}),
    )

    def __init__(self, *args, clinics, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics


class BillingExportForm(forms.Form):
    """Which month, clinic and payer the billing export covers."""

    month = OneLineField(label="Month", max_length=7,
                         widget=forms.TextInput(attrs={"type": "month", "class": "form-control"}),
                         help_text="Sessions whose date of service falls in this month, in each clinic's calendar.")
    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), required=False, empty_label="All your clinics",
                                    widget=forms.Select(attrs={"class": "form-select"}))
    payer = OneLineField(required=False, max_length=100, label="Payer",
                         widget=forms.TextInput(attrs={"class": "form-control"}),
                         help_text="Leave blank for every payer; the export has a payer column.")

    def __init__(self, *args, clinics, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics

    def clean_month(self):
        text = self.cleaned_data["month"].strip()
        try:
            month = datetime.date.fromisoformat(f"{text}-01")
        except ValueError:
            raise forms.ValidationError("Enter a month as year and month, e.g. 2026-11.") from None
        if not 1900 <= month.year <= 2200:
            raise forms.ValidationError("Enter a month between 1900 and 2200.")
        return month



class WaitlistWishForm(forms.Form):
    """A waitlist wish, for the front desk's patient page and the patient's portal page: sooner
    than one of the patient's booked visits, and/or the days and times that suit."""

    earlier_than = forms.ChoiceField(label="Sooner than a booked visit", required=False)
    weekdays = forms.MultipleChoiceField(
        label="Days that suit", required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(str(n), name) for n, name in enumerate(
            ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"))],
        help_text="None ticked: any day.")
    earliest_time = forms.TimeField(label="Starting from", required=False,
                                    widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                                    help_text="Clinic time; empty for opening time.")
    latest_time = forms.TimeField(label="Starting by", required=False,
                                  widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                                  help_text="Clinic time; empty for any time until closing.")
    from_date = SaneDateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until_date = SaneDateField(label="Until", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    note = OneLineField(label="Note", required=False, max_length=200)

    def __init__(self, *args, appointments=(), clinic=None, **kwargs):
        """``appointments``: the patient's booked visits to come, which a wish may bring forward."""
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.appointments = {str(a.uuid): a for a in appointments}
        self.fields["earlier_than"].choices = [("", "No: any time that suits")] + [
            (key, f"{a.clinic.local(a.starts_at):%a %-d %b, %H:%M} ({a.get_kind_display().lower()})")
            for key, a in self.appointments.items()]
        if not self.appointments:
            del self.fields["earlier_than"]

    def clean_earlier_than(self):
        value = self.cleaned_data.get("earlier_than")
        return self.appointments.get(value) if value else None

    def clean(self):
        cleaned = super().clean()
        earliest, latest = cleaned.get("earliest_time"), cleaned.get("latest_time")
        if earliest and latest and earliest > latest:
            self.add_error("latest_time", "The latest start must not be before the earliest.")
        first, last = cleaned.get("from_date"), cleaned.get("until_date")
        if first and last and first > last:
            self.add_error("until_date", "The last day must not be before the first.")
        if last and self.clinic is not None and last < self.clinic.today():
            self.add_error("until_date", "That day has passed.")
        return cleaned
