"""URLs of the staff's outcomes pages, included by scheduling/urls.py into the "staff" namespace."""

from django.urls import path

from . import outcomes

urlpatterns = [
    path("patients/<uuid:uuid>/phq9/", outcomes.phq9, name="phq9"),
    path("patients/<uuid:uuid>/plans/new/", outcomes.plan_start, name="plan-start"),
    path("plans/<int:pk>/pause/", outcomes.plan_pause, name="plan-pause"),
    path("plans/<int:pk>/resume/", outcomes.plan_resume, name="plan-resume"),
    path("plans/<int:pk>/end/", outcomes.plan_end, name="plan-end"),
    path("reports/outcomes/", outcomes.outcomes_report, name="outcomes-report"),
    path("reports/outcomes.csv", outcomes.outcomes_csv, name="outcomes-csv"),
]
