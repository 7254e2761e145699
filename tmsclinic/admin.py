"""What every app's admin shares: the clinic wall, and the audit trail (read-only, filtered by
patient, user and date, exported as CSV)."""

import csv

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from . import audit
from .exports import Echo, spreadsheet_safe
from .models import AuditEvent
from .roles import READ_AUDIT, clinics_of, may


class LabelledInlineFormSet(BaseInlineFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].widget.attrs.setdefault("aria-label", "Delete this row")


class LabelledTabularInline(admin.TabularInline):
    """A table of inline rows whose every box is named: Django's table puts the field's name in
    the column heading only, which a screen reader does not announce for the box, so each widget
    (and each row's delete box) carries it as its aria-label."""

    formset = LabelledInlineFormSet

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None:
            label = str(formfield.label or db_field.verbose_name)
            widget = getattr(formfield.widget, "widget", formfield.widget)  # inside the related-object wrapper
            widget.attrs.setdefault("aria-label", label[:1].upper() + label[1:])
        return formfield


class ReadOnlyAdmin:
    """A record that admin only shows: written by the app, never added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WalledAdmin:
    """Behind the clinic wall in admin too: anyone but a superuser sees only their clinics' rows,
    and chooses only among their clinics' rows in a form. ``clinic_field`` is the path from the
    model to a clinic ("clinic", "appointment__clinic"), or a tuple of paths any of which may
    lead to one; without one the model's own ``visible_to(user)`` decides (patients and their
    records)."""

    clinic_field = None

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        clinic_ids = clinics_of(request.user)
        if clinic_ids is None:
            return queryset
        if self.clinic_field is None:
            return queryset.visible_to(request.user)
        paths = (self.clinic_field,) if isinstance(self.clinic_field, str) else self.clinic_field
        condition = Q()
        for clinic_path in paths:
            condition |= Q(**{f"{clinic_path}__in": clinic_ids})
        return queryset.filter(condition)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if clinics_of(request.user) is not None and hasattr(related.objects.all(), "visible_to"):
            kwargs["queryset"] = related.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """The audit trail, for whoever holds READ_AUDIT: never added, changed or deleted here."""

    list_display = ("at", "username", "action", "patient", "path", "status", "ip")
    list_filter = ("action", ("at", admin.DateFieldListFilter))
    search_fields = ("username", "=patient__mrn", "patient__last_name", "path", "detail")
    list_select_related = ("patient",)
    date_hierarchy = "at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    show_full_result_count = False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        clinic_ids = clinics_of(request.user)
        if clinic_ids is None:
            return queryset
        # A clinic admin reads the events about their clinics' patients and by their clinics' staff.
        return queryset.filter(Q(patient__home_clinic_id__in=clinic_ids)
                               | Q(user__clinic_memberships__clinic_id__in=clinic_ids)).distinct()

    def has_module_permission(self, request):
        return may(request.user, READ_AUDIT)

    def has_view_permission(self, request, obj=None):
        return may(request.user, READ_AUDIT)

    def get_urls(self):
        export = self.admin_site.admin_view(self.export_csv)
        return [path("export.csv", export, name="tmsclinic_auditevent_export"), *super().get_urls()]

    def export_csv(self, request):
        """The changelist's rows, as filtered, as CSV; the export is itself an event."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        rows = self.get_changelist_instance(request).get_queryset(request)
        audit.about(request, None, action="export")
        writer = csv.writer(Echo())
        columns = ["seq", "at", "username", "action", "patient_id", "path", "status", "ip", "detail", "hash"]

        def lines():
            yield writer.writerow(columns)
            for event in rows.order_by("seq").iterator(chunk_size=2000):
                yield writer.writerow([spreadsheet_safe(getattr(event, column)) for column in columns])

        name = f"audit-{timezone.now():%Y-%m-%d}.csv"
        return StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition": f'attachment; filename="{name}"'})

