"""The clinic's outcomes report: relapse after maintenance, on schedule against lapsed, and its
CSV export (whose column names other tools rely on); and the monthly billing export."""

import csv
import datetime

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify

from patients import charts
from patients.outcomes import DEFAULT_MONTHS, HORIZON_MONTHS, horizon_days, relapse_cohort, summarise
from tmsclinic import audit
from tmsclinic.exports import spreadsheet_safe
from tmsclinic.roles import BILLING, READ_REPORTS, staff_required

from ..models import Clinic
from ..services import billing
from .forms import BillingExportForm, OutcomesReportForm


def _cohort_for(request):
    clinics = Clinic.objects.visible_to(request.user)
    form = OutcomesReportForm(request.GET, clinics=clinics)
    # An invalid filter shows its error and is ignored; the valid one still applies.
    form.is_valid()
    clinic = form.cleaned_data.get("clinic")
    months = form.cleaned_data.get("months")
    months = DEFAULT_MONTHS if months is None else months
    # Each patient's "today" is their clinic's date now; the page names one clinic's.
    today = clinic.today() if clinic else timezone.localdate()
    return form, clinic, months, today, relapse_cohort(
        clinics=[clinic] if clinic else clinics, now=timezone.now(), min_days=horizon_days(months))


@staff_required(READ_REPORTS)
def outcomes_report(request):
    form, clinic, months, today, rows = _cohort_for(request)
    groups = [
        summarise([row for row in rows if not row.lapsed], "on-schedule", "Stayed on schedule"),
        summarise([row for row in rows if row.lapsed], "lapsed", "Lapsed (had an overdue flag)"),
    ]
    return render(request, "staff/outcomes/report.html", {
        "form": form, "clinic": clinic, "months": months, "today": today, "groups": groups,
        "chart": charts.survival_chart(groups) if rows else None, "horizon_months": HORIZON_MONTHS,
        "csv_query": request.GET.urlencode(),
    })


@staff_required(READ_REPORTS)
def outcomes_csv(request):
    _, clinic, _, today, rows = _cohort_for(request)
    audit.about(request, None, action="export")
    name = f"outcomes-{slugify(clinic.name) if clinic else 'all-clinics'}-{today:%Y-%m-%d}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
    writer = csv.writer(response)
    writer.writerow(["mrn", "clinic", "plan_started_on", "group", "relapse_on", "censored_on", "days_followed"])
    for row in rows:
        writer.writerow([
            spreadsheet_safe(row.mrn), spreadsheet_safe(row.clinic), row.started_on, row.group,
            row.relapse_on or "", row.censored_on or "", row.days,
        ])
    return response


@staff_required(BILLING)
def billing_report(request):
    """The billing export's choices; the rows themselves only go out as the CSV."""
    clinics = Clinic.objects.visible_to(request.user)
    home = clinics.first()  # the user's home clinic first
    today = home.today() if home else timezone.localdate()
    last_month = today.replace(day=1) - datetime.timedelta(days=1)
    form = BillingExportForm(request.GET or None, clinics=clinics, initial={"month": f"{last_month:%Y-%m}"})
    if form.is_valid():
        data = form.cleaned_data
        rows = billing.billing_rows([data["clinic"]] if data["clinic"] else clinics, data["month"],
                                    payer=data["payer"] or None)
        audit.about(request, None, action="export")
        name = f"billing-{slugify(data['clinic'].name) if data['clinic'] else 'all-clinics'}-{data['month']:%Y-%m}"
        if data["payer"]:
            name += f"-{slugify(data['payer'])}"
        response = HttpResponse(content_type="text/csv; charset=utf-8",
                                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
        writer = csv.writer(response)
        writer.writerow(billing.COLUMNS)
        for row in rows:
            writer.writerow([spreadsheet_safe(row[column]) if isinstance(row[column], str) else row[column]
                             for column in billing.COLUMNS])
        return response
    return render(request, "staff/billing.html", {"form": form}, status=400 if form.is_bound else 200)

