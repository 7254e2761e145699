"""Django admin for patients, protocols, courses, plans, assessments and flags.

Every changelist and change page runs a fixed number of queries whatever the data size:
columns and ``__str__`` methods that cross a relation are covered by ``select_related``, and
foreign keys to large tables (or to models whose ``__str__`` reads another table) are
autocomplete fields, which render only the chosen row.

Clinical history is not deleted by a click: patients are discharged, courses completed or
discontinued, plans ended (with a reason), flags resolved, and a mistaken assessment is
corrected by a new one. Deleting is left to superusers, for clearing data entered in error.
"""

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from tmsclinic.admin import LabelledTabularInline, ReadOnlyAdmin, WalledAdmin

from .models import (
    ITEM_FIELDS,
    Assessment,
    AuthorisationChange,
    CourseTemplate,
    MotorThresholdRecheck,
    OutreachAttempt,
    Patient,
    PatientFlag,
    PlanTemplate,
    PlanTemplatePhase,
    Protocol,
    TreatmentCourse,
)
from .services import record_assessment

PATIENT_SEARCH_FIELDS = ("patient__mrn", "patient__first_name", "patient__last_name")


class DeletedBySuperusersOnly:
    """For clinical records that a clinic stops using but keeps: no delete page, action or link
    for anyone but a superuser. has_delete_permission itself says no, unlike scheduling.admin's
    NotDeletedOnItsOwn, because these rows leave only with a patient, plan or flag, whose delete
    is a superuser's too: no delete that a clinic admin may make cascades into them."""

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


@admin.register(Patient)
class PatientAdmin(WalledAdmin, DeletedBySuperusersOnly, admin.ModelAdmin):
    """A patient who leaves care is discharged (the status field), not deleted: deleting takes
    their courses, plans, assessments and flags along."""

    list_display = ("mrn", "last_name", "first_name", "date_of_birth", "home_clinic", "status", "open_flags")
    list_filter = ("status", "home_clinic", "preferred_channel")
    list_select_related = ("home_clinic",)
    search_fields = ("mrn", "first_name", "last_name", "email")
    autocomplete_fields = ("user", "primary_clinician")
    readonly_fields = ("uuid", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("mrn", "first_name", "last_name", "date_of_birth", "status")}),
        ("Care", {"fields": ("home_clinic", "primary_clinician", "payer", "user", "may_book_reintroduction")}),
        (
            "Contact and consent",
            {
                "fields": (
                    "email",
                    "phone",
                    "preferred_channel",
                    ("email_consent", "email_consent_at"),
                    ("sms_consent", "sms_consent_at"),
                    "outreach_opt_out_at",
                )
            },
        ),
        ("Record", {"fields": ("uuid", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # A correlated subquery rather than Count() over a join: no GROUP BY on the patient
        # table, so the autocomplete and search that share this queryset stay cheap.
        open_flags = (
            PatientFlag.objects.open().filter(patient=OuterRef("pk"))
            .order_by()
            .values("patient")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return super().get_queryset(request).annotate(open_flags=Coalesce(Subquery(open_flags), 0))

    @admin.display(description="open flags", ordering="open_flags")
    def open_flags(self, patient):
        return patient.open_flags


@admin.register(Protocol)
class ProtocolAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "pattern",
        "target",
        "pulses_per_session",
        "session_minutes",
        "chair_minutes",
        "intensity_percent_mt",
        "sessions_per_day",
        "active",
    )
    list_filter = ("active", "pattern")
    search_fields = ("name", "target")


@admin.register(CourseTemplate)
class CourseTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "weekly_days", "mapping_minutes", "is_default")
    search_fields = ("name",)


@admin.register(TreatmentCourse)
class TreatmentCourseAdmin(WalledAdmin, DeletedBySuperusersOnly, admin.ModelAdmin):
    list_display = ("patient", "kind", "protocol", "start_date", "planned_sessions", "status")
    list_filter = ("status", "kind", "protocol")
    search_fields = (*PATIENT_SEARCH_FIELDS, "prior_auth_number")
    autocomplete_fields = ("patient", "clinician")
    readonly_fields = ("created_at",)
    date_hierarchy = "start_date"

    def get_queryset(self, request):
        # __str__ names the patient (autocomplete results use it) and the list shows the
        # protocol. A changelist ignores list_select_related once get_queryset has selected
        # related rows, hence both here.
        return super().get_queryset(request).select_related("patient", "protocol")


@admin.register(AuthorisationChange)
class AuthorisationChangeAdmin(ReadOnlyAdmin, WalledAdmin, admin.ModelAdmin):
    """The history of courses' authorisations: read-only, written when staff record or extend
    one (the course holds the current values)."""

    clinic_field = "course__patient__home_clinic"
    list_display = ("course", "prior_auth_number", "authorised_sessions", "authorised_until", "changed_by",
                    "changed_at")
    list_select_related = ("course__patient", "changed_by")
    search_fields = tuple(f"course__{field}" for field in PATIENT_SEARCH_FIELDS)
    date_hierarchy = "changed_at"
    readonly_fields = fields = ("course", "prior_auth_number", "authorised_sessions", "authorised_from",
                                "authorised_until", "note", "changed_by", "changed_at")


@admin.register(MotorThresholdRecheck)
class MotorThresholdRecheckAdmin(WalledAdmin, DeletedBySuperusersOnly, admin.ModelAdmin):
    """Medication changes and re-check requests: the next session must measure the motor
    threshold. Who asked and when are facts; what and why can be corrected."""

    list_display = ("patient", "reason", "requested_at", "requested_by")
    list_filter = ("reason",)
    list_select_related = ("patient", "requested_by")
    search_fields = PATIENT_SEARCH_FIELDS
    autocomplete_fields = ("patient",)
    readonly_fields = ("requested_by", "requested_at")
    date_hierarchy = "requested_at"
    fields = ("patient", "reason", "note", "requested_by", "requested_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.requested_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Assessment)
class AssessmentAdmin(WalledAdmin, DeletedBySuperusersOnly, admin.ModelAdmin):
    list_display = ("patient", "instrument", "total", "band", "item_9", "taken_at", "source")
    list_filter = ("band", "instrument", "source")
    list_select_related = ("patient",)
    search_fields = PATIENT_SEARCH_FIELDS
    autocomplete_fields = ("patient",)
    # Scored by the model on save; who entered it and from where is a fact, not a choice.
    readonly_fields = ("total", "band", "source", "entered_by")
    date_hierarchy = "taken_at"
    fieldsets = (
        (None, {"fields": ("patient", "instrument", "taken_at")}),
        (
            "Answers: 0 not at all, 1 several days, 2 more than half the days, 3 nearly every day",
            {"fields": (*ITEM_FIELDS, "difficulty")},
        ),
        ("Score", {"fields": ("total", "band", "source", "entered_by")}),
    )

    def has_change_permission(self, request, obj=None):
        # A clinical record: a correction is a new assessment, never an edit.
        return False

    def save_model(self, request, obj, form, change):
        # record_assessment is the one way in: it scores, and raises the safety flag and
        # e-mails the clinician for item 9 whatever the path.
        saved = record_assessment(
            patient=obj.patient, items=obj.items, source=Assessment.Source.STAFF, by=request.user,
            difficulty=obj.difficulty, taken_at=obj.taken_at,
        )
        obj.pk, obj.total, obj.band, obj.entered_by = saved.pk, saved.total, saved.band, saved.entered_by
        obj._state.adding = False


class FlagStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("open", "Open"), ("resolved", "Resolved"))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.open()
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(PatientFlag)
class PatientFlagAdmin(WalledAdmin, DeletedBySuperusersOnly, admin.ModelAdmin):
    list_display = ("patient", "kind", "raised_at", "resolved_at", "resolved_by")
    list_filter = (FlagStatusFilter, "kind")
    list_select_related = ("patient", "resolved_by")

    def get_queryset(self, request):
        # __str__ names the patient, and autocomplete results (outreach attempts) use it.
        return super().get_queryset(request).select_related("patient", "resolved_by")
    search_fields = PATIENT_SEARCH_FIELDS
    autocomplete_fields = ("patient", "plan", "resolved_by")
    date_hierarchy = "raised_at"
    actions = ("mark_resolved",)

    def save_model(self, request, obj, form, change):
        # An empty resolved_by means the system resolved the flag, so a person must be named.
        if obj.resolved_at and obj.resolved_by is None and "resolved_at" in form.changed_data:
            obj.resolved_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Mark selected flags resolved")
    def mark_resolved(self, request, queryset):
        # Flags already resolved keep who resolved them and when.
        resolved = queryset.open().update(
            resolved_at=timezone.now(), resolved_by=request.user
        )
        self.message_user(request, f"Resolved {resolved} flag{'' if resolved == 1 else 's'}.")


class PlanTemplatePhaseInline(LabelledTabularInline):
    model = PlanTemplatePhase
    fields = ("order", "interval_days", "sessions_per_visit", "visits")
    extra = 1


@admin.register(PlanTemplate)
class PlanTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "grace_days")
    search_fields = ("name",)
    inlines = (PlanTemplatePhaseInline,)


@admin.register(OutreachAttempt)
class OutreachAttemptAdmin(WalledAdmin, DeletedBySuperusersOnly, admin.ModelAdmin):
    clinic_field = "flag__patient__home_clinic"

    list_display = ("flag", "channel", "outcome", "by", "at")
    list_filter = ("channel", "outcome")
    search_fields = ("flag__patient__mrn", "flag__patient__last_name", "note")
    autocomplete_fields = ("flag",)
    list_select_related = ("flag__patient", "by")
    date_hierarchy = "at"
