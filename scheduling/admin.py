"""Django admin for clinics, chairs, hours, closures, appointments, session records and reminders.

Times are stored in UTC and the admin (TIME_ZONE = UTC) shows and edits them in UTC; every list
and detail page also shows them in the clinic's own zone, which is what the clinic works in.
As in patients.admin, every page runs a fixed number of queries whatever the data size.
"""

import zoneinfo
from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from patients.admin import PATIENT_SEARCH_FIELDS, DeletedBySuperusersOnly
from patients.models import MaintenancePhase, MaintenancePlan
from tmsclinic.admin import LabelledTabularInline, ReadOnlyAdmin, WalledAdmin
from tmsclinic.inputs import validate_one_line
from tmsclinic.roles import BOOK, STAFF_ROLES, clinics_of, may

from . import services
from .models import (
    Appointment,
    CadenceStep,
    Chair,
    Clinic,
    ClinicMembership,
    Closure,
    FreedSlot,
    JobMark,
    OpeningHours,
    OutreachCadence,
    OutreachMessage,
    OutreachTemplate,
    Reminder,
    SessionRecord,
    SlotOffer,
    WaitlistEntry,
)
from .services import reminders
from .services.plans import end_plan, forget_missed_appointments_mark, refresh_plan
from .staff.forms import CancelForm, EndPlanForm


def ask_for_reason(model_admin, request, queryset, form, *, action, title, submit_label):
    """The page an admin action shows before it acts on the selected rows, asking for the
    reason (``form``); its template is ``admin/<app>/<model>/<action>.html``."""
    opts = model_admin.model._meta
    return TemplateResponse(request, f"admin/{opts.app_label}/{opts.model_name}/{action}.html", {
        **model_admin.admin_site.each_context(request),
        "title": title, "opts": opts, "objects": queryset, "form": form, "action": action,
        "submit_label": submit_label, "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    })


def clinic_time(clinic, moment):
    """``moment`` on the clinic's wall clock, e.g. "2026-11-25 09:00 EST"."""
    return f"{clinic.local(moment):%Y-%m-%d %H:%M %Z}"


def time_zone_choices():
    return [("", "---------"), *((name, name) for name in sorted(zoneinfo.available_timezones()))]


class ClinicForm(forms.ModelForm):
    # A select so that a typo cannot reach the schedules. The model field keeps no choices
    # (see scheduling.models.validate_time_zone) so migrations don't depend on the machine.
    time_zone = forms.ChoiceField(choices=time_zone_choices, help_text=Clinic._meta.get_field("time_zone").help_text)

    class Meta:
        model = Clinic
        fields = ("name", "time_zone", "address", "phone", "reminder_day_before_at", "reminder_hours_before",
                  "crisis_help", "crisis_phone")


class ChairInline(LabelledTabularInline):
    model = Chair
    extra = 1

    def get_queryset(self, request):
        # Each row is captioned with __str__, which names the clinic.
        return super().get_queryset(request).select_related("clinic")


class OpeningHoursInline(LabelledTabularInline):
    model = OpeningHours
    extra = 1


class ClosureInline(LabelledTabularInline):
    model = Closure
    extra = 0

    def get_queryset(self, request):
        # Each row is captioned with __str__, which names the clinic.
        return super().get_queryset(request).select_related("clinic")


@admin.register(Clinic)
class ClinicAdmin(WalledAdmin, admin.ModelAdmin):
    clinic_field = "pk"

    form = ClinicForm
    list_display = ("name", "time_zone", "phone")
    search_fields = ("name",)
    inlines = (ChairInline, OpeningHoursInline, ClosureInline)


@admin.register(Chair)
class ChairAdmin(WalledAdmin, admin.ModelAdmin):
    clinic_field = "clinic"

    list_display = ("name", "clinic", "device_model", "coil", "active")
    list_filter = ("active", "clinic")
    search_fields = ("name", "clinic__name", "device_model")

    def get_queryset(self, request):
        # __str__ names the clinic, in the list and in autocomplete results.
        return super().get_queryset(request).select_related("clinic")


@admin.register(OpeningHours)
class OpeningHoursAdmin(WalledAdmin, admin.ModelAdmin):
    clinic_field = "clinic"

    list_display = ("clinic", "weekday", "opens_at", "closes_at")
    list_filter = ("clinic", "weekday")
    list_select_related = ("clinic",)


@admin.register(Closure)
class ClosureAdmin(WalledAdmin, admin.ModelAdmin):
    clinic_field = "clinic"

    list_display = ("clinic", "starts_on", "ends_on", "reason")
    list_filter = ("clinic",)
    list_select_related = ("clinic",)
    date_hierarchy = "starts_on"


@admin.register(Appointment)
class AppointmentAdmin(WalledAdmin, admin.ModelAdmin):
    """Appointments are looked up here, not booked or moved: scheduling.services takes the
    chair lock, arms and disarms reminders and recomputes the maintenance plan, and a plain
    model save would skip all three. So only the technician is edited on the form; the status
    changes through the cancel action, which calls the service; and deleting is for superusers
    clearing data entered in error, keeping plans in step."""

    list_display = ("patient", "kind", "clinic", "chair", "starts", "ends", "status")
    list_filter = ("status", "kind", "clinic", "booked_via")
    search_fields = PATIENT_SEARCH_FIELDS
    autocomplete_fields = ("technician",)
    readonly_fields = (
        "staff_page", "clinic_local_time",
        "patient", "kind", "clinic", "chair", "course", "plan",
        "starts_at", "ends_at",
        "status", "confirmed_at", "checked_in_at", "cancelled_at", "cancelled_by", "cancel_reason",
        "marked_no_show_at", "marked_no_show_by",
        "booked_via", "booked_by", "uuid", "created_at", "updated_at",
        "authorisation_override_by", "authorisation_override_note",
    )
    date_hierarchy = "starts_at"
    ordering = ("-starts_at",)
    actions = ("cancel_selected",)
    fieldsets = (
        (None, {
            "fields": ("staff_page", "patient", "kind", "clinic", "chair", "technician", "course", "plan"),
            "description": "The booking, times and status change only on the appointment's staff page, "
                           "which moves its reminders, its chair and the maintenance plan with it.",
        }),
        ("Time", {"fields": ("starts_at", "ends_at", "clinic_local_time"),
                  "description": "In UTC. The clinic's own time is shown under “Clinic local time”."}),
        ("Status", {"fields": ("status", "confirmed_at", "checked_in_at", "cancelled_at", "cancelled_by",
                               "cancel_reason", "marked_no_show_at", "marked_no_show_by")}),
        ("Booking", {"fields": ("booked_via", "booked_by", "uuid", "created_at", "updated_at")}),
        (
            "Beyond the authorised sessions",
            {"fields": ("authorisation_override_by", "authorisation_override_note")},
        ),
    )

    def get_queryset(self, request):
        # __str__ names the patient in the clinic's time (autocomplete results use it) and the
        # list shows the chair, named with its clinic. A changelist ignores
        # list_select_related once get_queryset has selected related rows, hence all here.
        return super().get_queryset(request).select_related("patient", "clinic", "chair__clinic")

    def has_add_permission(self, request):
        # Booking is the staff booking page's: it picks the course or plan, checks the
        # authorisation and the opening hours, takes the chair lock and arms the reminders.
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting takes the session record and the delivery log with it: staff cancel instead.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def has_cancel_permission(self, request):
        # The roles that may cancel on the staff appointment page.
        return self.has_change_permission(request) and may(request.user, BOOK)

    def save_model(self, request, obj, form, change):
        # Only what the form may change: a full save would write back the status and times read
        # before a cancellation that landed meanwhile on the staff page.
        if form.changed_data:
            obj.save(update_fields=[*form.changed_data, "updated_at"])

    def delete_model(self, request, obj):
        self.delete_queryset(request, Appointment.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        # Reminders go with their appointment; a plan that lost a session is recomputed.
        with transaction.atomic():
            plans = list(MaintenancePlan.objects.filter(pk__in=list(queryset.values_list("plan", flat=True)))
                         .select_related("patient__home_clinic"))
            super().delete_queryset(request, queryset)
            for plan in plans:
                refresh_plan(plan)
            # Two no-shows may now be "in a row": the flag job's next run looks again.
            forget_missed_appointments_mark()

    @admin.action(description="Cancel the selected appointments…", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        """Cancel each through scheduling.services, after a page that asks for the reason;
        each one the service refuses is reported with its reason."""
        form = CancelForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return ask_for_reason(self, request, queryset, form, action="cancel_selected",
                                  title="Cancel appointments", submit_label="Cancel these appointments")
        cancelled, refused = 0, Counter()
        for appointment in queryset:
            try:
                services.cancel_appointment(appointment, by=request.user, reason=form.cleaned_data["reason"])
            except ValidationError as refusal:
                refused[" ".join(refusal.messages)] += 1
            except Appointment.DoesNotExist:
                refused["It was deleted meanwhile."] += 1
            else:
                cancelled += 1
        if cancelled:
            plural = "s" if cancelled != 1 else ""
            self.message_user(request, f"{cancelled} appointment{plural} cancelled; their reminders will not go out.",
                              messages.SUCCESS)
        for reason, count in sorted(refused.items()):
            self.message_user(request, f"{count} not cancelled: {reason}", messages.WARNING)

    @admin.display(description="staff page")
    def staff_page(self, appointment):
        return format_html('<a href="{}">Open the appointment</a> to reschedule, cancel, check in or complete it.',
                           reverse("staff:appointment", args=[appointment.uuid]))

    @admin.display(description="starts (clinic time)", ordering="starts_at")
    def starts(self, appointment):
        return clinic_time(appointment.clinic, appointment.starts_at)

    @admin.display(description="ends (clinic time)", ordering="ends_at")
    def ends(self, appointment):
        return clinic_time(appointment.clinic, appointment.ends_at)

    @admin.display(description="clinic local time")
    def clinic_local_time(self, appointment):
        start = clinic_time(appointment.clinic, appointment.starts_at)
        return f"{start} to {clinic_time(appointment.clinic, appointment.ends_at)}"


class NotDeletedOnItsOwn:
    """For rows that belong to an appointment or a plan and leave only with it: they have no
    delete page, action or link of their own. has_delete_permission keeps its default because
    Django admin asks it about every row that deleting the appointment or plan takes along;
    whether that happens is for the appointment's or plan's admin to decide."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "show_delete": False})


@admin.register(SessionRecord)
class SessionRecordAdmin(WalledAdmin, NotDeletedOnItsOwn, admin.ModelAdmin):
    clinic_field = "appointment__clinic"

    """A session record is written by complete_appointment, which completes the appointment and
    moves the maintenance plan in the same transaction; one added here, or moved to another
    appointment, would leave the appointment booked, the plan's due date and the course's count
    behind, and the staff page unable to complete the session. So records are not added here, the
    appointment, operator and time are read-only, and only what was delivered can be corrected:
    nothing in scheduling reads it, and the staff page has no other way to amend a typo. A
    record goes only with its appointment (a superuser's delete, which recomputes the plan): on
    its own, the appointment would still count as a session delivered with no record of it."""

    list_display = ("appointment", "pulses_delivered", "intensity_percent_mt", "motor_threshold", "operator")
    list_select_related = ("appointment__patient", "appointment__clinic", "operator")
    search_fields = tuple(f"appointment__{field}" for field in PATIENT_SEARCH_FIELDS)
    readonly_fields = ("staff_page", "appointment", "operator", "recorded_at", "cpt_code", "cpt_code_reason",
                       "cpt_code_changed_by")
    date_hierarchy = "recorded_at"
    ordering = ("-recorded_at",)
    fieldsets = (
        (None, {
            "fields": ("staff_page", "appointment", "operator", "recorded_at"),
            "description": "Sessions are recorded when they are completed on the appointment's staff page, "
                           "which completes the appointment and moves the maintenance plan with it.",
        }),
        ("Delivered", {
            "fields": ("pulses_delivered", "intensity_percent_mt", "motor_threshold", "mt_measured", "coil_position",
                       "side_effects", "notes"),
            "description": "Correct what was recorded in error. Each correction is kept in History: "
                           "who made it, when, and which fields.",
        }),
        ("Billing", {
            "fields": ("cpt_code", "cpt_code_reason", "cpt_code_changed_by"),
            "description": "Derived when the session was completed; a clinician changes it on the appointment's "
                           "staff page, saying why.",
        }),
    )

    def has_add_permission(self, request):
        return False

    @admin.display(description="staff page")
    def staff_page(self, record):
        return format_html('<a href="{}">Open the appointment</a> where this session was completed.',
                           reverse("staff:appointment", args=[record.appointment.uuid]))


@admin.register(Reminder)
class ReminderAdmin(WalledAdmin, NotDeletedOnItsOwn, admin.ModelAdmin):
    clinic_field = ("appointment__clinic", "plan__patient__home_clinic")

    """The outbox is written by booking, cancelling and the nudge job, and sent by claim: a row
    added or edited here (status, time, channel) could go out twice or never. So reminders are
    read-only here, and the Resend action, which obeys the sending rules, is the one way to send
    one again. A reminder goes only with its appointment or plan: on its own, a deleted row would
    hide that it went out, and the nudge job would write a plan's nudge again and send it twice."""

    list_display = ("kind", "channel", "about", "scheduled", "status", "attempts", "sent_at")
    list_filter = ("status", "kind", "channel")
    list_select_related = ("appointment__patient", "appointment__clinic", "plan__patient__home_clinic")
    search_fields = tuple(f"{about}__{field}" for about in ("appointment", "plan") for field in PATIENT_SEARCH_FIELDS)
    readonly_fields = ("scheduled", "created_at")
    ordering = ("-scheduled_for",)
    actions = ("resend",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request):
        # Whoever the clinic lets change reminders may resend them; no one edits a row.
        return super().has_change_permission(request)

    @admin.action(description="Resend the selected failed or skipped reminders", permissions=["resend"])
    def resend(self, request, queryset):
        """Re-arm failed or skipped reminders the sending rules still allow (services.reminders.resend)."""
        rearmed, refused = reminders.resend(queryset)
        if rearmed:
            self.message_user(request, f"{rearmed} reminder{'s' if rearmed != 1 else ''} re-armed.", messages.SUCCESS)
        for reason, count in sorted(refused.items()):
            self.message_user(request, f"{count} not resent: {reason}", messages.WARNING)

    @admin.display(description="about")
    def about(self, reminder):
        return reminder.appointment if reminder.appointment_id else reminder.plan

    @admin.display(description="scheduled for (clinic time)", ordering="scheduled_for")
    def scheduled(self, reminder):
        return clinic_time(reminders.clinic_of(reminder), reminder.scheduled_for)


# Registered here, not in patients/admin.py: saving a plan recomputes its schedule from its
# appointments, which only scheduling may read.
class MaintenancePhaseInline(LabelledTabularInline):
    model = MaintenancePhase
    fields = ("order", "interval_days", "sessions_per_visit", "visits")
    extra = 1


@admin.register(MaintenancePlan)
class MaintenancePlanAdmin(WalledAdmin, DeletedBySuperusersOnly, admin.ModelAdmin):
    """A plan that stops is ended, with a reason, through the End action (scheduling.services.plans'
    end_plan, as on the staff page): its visits, flags and nudges stay, and the outcomes report
    keeps the patient's maintenance. Deleting would take all that along, so only superusers
    delete, for a plan entered in error."""

    list_display = ("patient", "protocol", "status", "started_on", "next_due_on", "overdue")
    list_filter = ("status", "protocol")
    search_fields = PATIENT_SEARCH_FIELDS
    autocomplete_fields = ("patient", "source_course")
    # A plan is paused and resumed on the staff page and ended with the End action (a reason
    # is required): its status is not edited by hand.
    readonly_fields = ("status", "ended_on", "end_reason", "next_due_on", "overdue_after", "created_at")
    inlines = (MaintenancePhaseInline,)
    actions = ("end_selected",)

    def has_end_permission(self, request):
        # Whoever may change plans here; the change form could set the status anyway.
        return self.has_change_permission(request)

    @admin.action(description="End the selected plans…", permissions=["end"])
    def end_selected(self, request, queryset):
        """End each live plan through end_plan, after a page that asks for the reason; a plan
        that has already ended keeps its date and reason, and is reported."""
        form = EndPlanForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return ask_for_reason(self, request, queryset, form, action="end_selected",
                                  title="End maintenance plans", submit_label="End these plans")
        ended, refused = 0, Counter()
        for pk in queryset.values_list("pk", flat=True):
            with transaction.atomic():
                # Read again under a lock: the staff page may have ended it meanwhile, with its own reason.
                plan = (MaintenancePlan.objects.select_for_update(of=("self",))
                        .select_related("patient__home_clinic").filter(pk=pk).first())
                if plan is None:
                    refused["It was deleted meanwhile."] += 1
                elif plan.status == MaintenancePlan.Status.ENDED:
                    refused["This plan has already ended."] += 1
                else:
                    end_plan(plan, reason=form.cleaned_data["reason"])
                    ended += 1
        if ended:
            self.message_user(request, f"{ended} plan{'s' if ended != 1 else ''} ended.", messages.SUCCESS)
        for reason, count in sorted(refused.items()):
            self.message_user(request, f"{count} not ended: {reason}", messages.WARNING)

    def save_related(self, request, form, formsets, change):
        # Phases are saved with the inlines, after the plan: only then is the schedule known.
        super().save_related(request, form, formsets, change)
        refresh_plan(form.instance)

    def get_queryset(self, request):
        # __str__ names the patient (autocomplete results use it) and the list shows the
        # protocol. A changelist ignores list_select_related once get_queryset has selected
        # related rows, hence both here.
        return super().get_queryset(request).select_related("patient", "protocol")

    @admin.display(boolean=True)
    def overdue(self, plan):
        return plan.is_overdue


@admin.register(JobMark)
class JobMarkAdmin(admin.ModelAdmin):
    """How far the background jobs have looked: for the IT person, read-only. Deleting a mark
    is safe (the job's next run looks back a year instead)."""

    list_display = ("job", "reached")
    readonly_fields = ("job", "reached")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Staff accounts and their clinics ----------------------------------------------------------


class ClinicMembershipInline(LabelledTabularInline):
    model = ClinicMembership
    extra = 0
    autocomplete_fields = ("clinic",)

    def get_queryset(self, request):
        # A clinic admin sees and edits only memberships of their own clinics.
        queryset = super().get_queryset(request).select_related("clinic")
        clinic_ids = clinics_of(request.user)
        return queryset if clinic_ids is None else queryset.filter(clinic_id__in=clinic_ids)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "clinic":
            kwargs["queryset"] = Clinic.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(ClinicMembership)
class ClinicMembershipAdmin(WalledAdmin, admin.ModelAdmin):
    clinic_field = "clinic"
    list_display = ("user", "clinic", "is_home")
    list_filter = ("clinic",)
    list_select_related = ("user", "clinic")
    search_fields = ("user__username", "user__first_name", "user__last_name", "clinic__name")
    autocomplete_fields = ("user", "clinic")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = StaffUserAdmin.colleagues(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


User = get_user_model()
admin.site.unregister(User)


class OneLineNames:
    """Names on an account are single lines: no control characters or line breaks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("username", "first_name", "last_name", "email"):
            if name in self.fields:
                self.fields[name].validators.append(validate_one_line)


class StaffUserChangeForm(OneLineNames, UserChangeForm):
    pass


class StaffUserCreationForm(OneLineNames, AdminUserCreationForm):
    pass


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    """Staff accounts. A superuser sees Django's whole form; anyone else (a clinic admin) sees
    only their own clinics' staff, never a superuser, and can set no more than a name, an
    e-mail address, whether the account is active and may open admin, its roles (the four staff
    roles, never raw permissions) and its clinics (among their own). Nobody but a superuser
    changes their own roles, and only a superuser deletes an account."""

    inlines = [ClinicMembershipInline]
    form = StaffUserChangeForm
    add_form = StaffUserCreationForm
    list_display = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "roles")
    LIMITED_FIELDSETS = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("is_active", "is_staff", "groups")}),
    )

    @staticmethod
    def colleagues(user):
        """The accounts a non-superuser may manage: members of their clinics, not superusers."""
        clinic_ids = clinics_of(user)
        if clinic_ids is None:
            return User.objects.all()
        return User.objects.filter(clinic_memberships__clinic_id__in=clinic_ids, is_superuser=False).distinct()

    @admin.display(description="Roles")
    def roles(self, user):
        return ", ".join(group.name for group in user.groups.all())

    def get_queryset(self, request):
        queryset = super().get_queryset(request).prefetch_related("groups")
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=self.colleagues(request.user).values("pk"))

    def get_fieldsets(self, request, obj=None):
        if obj is None or request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        return self.LIMITED_FIELDSETS

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj == request.user and not request.user.is_superuser:
            readonly += ["groups", "is_staff", "is_active"]  # no one raises their own access
        return readonly

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=STAFF_ROLES)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        # Accounts are deactivated, not deleted: their names stay on the records they signed.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and not request.user.is_superuser:
            # A new account starts at its creator's home clinic, so its creator can go on to it.
            home = Clinic.objects.visible_to(request.user).first()
            if home is not None:
                ClinicMembership.objects.get_or_create(user=obj, clinic=home, defaults={"is_home": True})


# --- Bringing patients back: cadences, templates, the outreach ledger, waitlist and offers ----


class CadenceStepInline(LabelledTabularInline):
    model = CadenceStep
    extra = 0
    fields = ("day", "action", "template")
    ordering = ("day",)


@admin.register(OutreachCadence)
class OutreachCadenceAdmin(admin.ModelAdmin):
    """The ladder a new overdue or missed-appointments flag sets going. Changing it changes what
    open flags receive from their next step on; a step already sent stays in the ledger."""

    list_display = ("name", "flag_kind", "clinic", "active")
    list_filter = ("flag_kind", "active")
    list_select_related = ("clinic",)
    fields = ("name", "flag_kind", "clinic", "active")
    inlines = (CadenceStepInline,)

    def get_queryset(self, request):
        # Every clinic's default cadence, and the cadences of the user's own clinics.
        queryset = super().get_queryset(request)
        clinic_ids = clinics_of(request.user)
        if clinic_ids is None:
            return queryset
        return queryset.filter(Q(clinic__isnull=True) | Q(clinic__in=clinic_ids))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "clinic" and clinics_of(request.user) is not None:
            kwargs["queryset"] = Clinic.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        # The cadence for every clinic is the chain's: only a superuser changes it.
        if obj is not None and obj.clinic_id is None and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    has_delete_permission = has_change_permission


@admin.register(OutreachTemplate)
class OutreachTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "subject", "active")
    list_filter = ("active",)
    search_fields = ("name", "subject", "body")
    fields = ("name", "subject", "body", "active")


@admin.register(OutreachMessage)
class OutreachMessageAdmin(WalledAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    """The outreach ledger: written by the cadence job and by staff on the worklist, sent by
    claim; read-only here, like the reminders outbox."""

    clinic_field = "patient__home_clinic"
    list_display = ("patient", "channel", "step_day", "status", "scheduled_for", "sent_at", "sent_by")
    list_filter = ("status", "channel")
    list_select_related = ("patient", "sent_by")
    search_fields = tuple(f"patient__{field}" for field in PATIENT_SEARCH_FIELDS)
    ordering = ("-scheduled_for",)
    fields = readonly_fields = ("patient", "flag", "step", "step_day", "template", "channel", "scheduled_for",
                                "status", "attempts", "claimed_at", "sent_at", "last_error", "sent_by",
                                "link_opened_at", "appointment", "created_at")


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(WalledAdmin, admin.ModelAdmin):
    clinic_field = "clinic"
    list_display = ("patient", "clinic", "kind", "status", "created_at")
    list_filter = ("status", "kind")
    list_select_related = ("patient", "clinic")
    search_fields = tuple(f"patient__{field}" for field in PATIENT_SEARCH_FIELDS)
    autocomplete_fields = ("patient", "earlier_than")
    readonly_fields = ("created_by", "via", "closed_at")
    fields = ("patient", "clinic", "kind", "earlier_than", "weekdays", "earliest_time", "latest_time", "from_date",
              "until_date", "note", "status", "via", "created_by", "created_at", "closed_at")


@admin.register(SlotOffer)
class SlotOfferAdmin(WalledAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    """Offers are made and answered by the waitlist job and the patients' links: read-only."""

    clinic_field = "clinic"
    list_display = ("patient", "chair", "starts_at", "status", "sent_at", "expires_at")
    list_filter = ("status",)
    list_select_related = ("patient", "chair__clinic")
    search_fields = tuple(f"patient__{field}" for field in PATIENT_SEARCH_FIELDS)
    ordering = ("-created_at",)
    fields = readonly_fields = ("entry", "patient", "clinic", "chair", "starts_at", "ends_at", "channel", "status",
                                "attempts", "claimed_at", "sent_at", "expires_at", "answered_at", "last_error",
                                "appointment", "freed_slot", "gone_told_at", "created_at")


@admin.register(FreedSlot)
class FreedSlotAdmin(WalledAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    """Freed chair time is written by cancellations, moves and chairs back in service, and offered
    by the waitlist job: read-only."""

    clinic_field = "clinic"
    list_display = ("chair", "starts_at", "ends_at", "reason", "status")
    list_filter = ("status", "reason")
    list_select_related = ("chair__clinic",)
    ordering = ("-starts_at",)
    fields = readonly_fields = ("clinic", "chair", "starts_at", "ends_at", "reason", "status", "look_at",
                                "closed_at", "note", "created_at")
