import datetime

from crispy_forms.helper import FormHelper
from django import forms
from django.utils import timezone

from patients.models import CourseTemplate, Patient, Protocol, TreatmentCourse

from .models import Appointment, Chair, SessionRecord


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
        queryset=Patient.objects.filter(status=Patient.Status.ACTIVE),
        widget=forms.HiddenInput,
        error_messages={"required": "Choose a patient.", "invalid_choice": "Choose a patient from the search."},
    )
    chair = forms.ModelChoiceField(queryset=Chair.objects.filter(active=True).select_related("clinic"))
    starts_at = forms.DateTimeField(
        label="Starts at (clinic time)", widget=LocalDateTimeInput(), input_formats=["%Y-%m-%dT%H:%M"]
    )
    kind = forms.ChoiceField(choices=Appointment.Kind.choices, initial=Appointment.Kind.ACUTE)
    override_authorisation = forms.BooleanField(
        required=False, label="I approve a session beyond the course's authorisation (clinicians only)"
    )
    override_note = forms.CharField(required=False, max_length=200, label="Reason for the approval")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=200, label="Reason for cancelling")


class RescheduleForm(forms.Form):
    slot = forms.CharField(widget=forms.HiddenInput)

    def clean_slot(self):
        chair_id, _, moment = self.cleaned_data["slot"].partition("@")
        try:
            chair = Chair.objects.select_related("clinic").get(pk=int(chair_id), active=True)
            starts_at = datetime.datetime.fromisoformat(moment)
        except (ValueError, Chair.DoesNotExist) as error:
            raise forms.ValidationError("Choose one of the proposed times.") from error
        if timezone.is_naive(starts_at):
            raise forms.ValidationError("Choose one of the proposed times.")
        return chair, starts_at


class SessionRecordForm(forms.ModelForm):
    class Meta:
        model = SessionRecord
        fields = ["pulses_delivered", "intensity_percent_mt", "motor_threshold", "coil_position", "side_effects",
                  "notes"]
        widgets = {"side_effects": forms.Textarea(attrs={"rows": 2}), "notes": forms.Textarea(attrs={"rows": 2})}


class StartCourseForm(forms.Form):
    protocol = forms.ModelChoiceField(queryset=Protocol.objects.filter(active=True))
    template = forms.ModelChoiceField(queryset=CourseTemplate.objects.all(), label="Course template")
    kind = forms.ChoiceField(choices=TreatmentCourse.Kind.choices, initial=TreatmentCourse.Kind.ACUTE)
    start_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    chair = forms.ModelChoiceField(queryset=Chair.objects.none())
    time_of_day = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    motor_threshold = forms.IntegerField(required=False, min_value=1, max_value=100,
                                         label="Motor threshold (% machine output), if known")
    authorised_sessions = forms.IntegerField(required=False, min_value=1, max_value=200)
    prior_auth_number = forms.CharField(required=False, max_length=64, label="Prior authorisation number")

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
