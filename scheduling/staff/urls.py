"""The whole /staff/ map, in the "staff" namespace, grouped by what a URL is about (as
healthchecks' hc/front/urls.py). Every view here asks for a capability of tmsclinic.roles;
tests/tmsclinic/test_url_map.py walks this map to prove it."""

from django.urls import include, path, register_converter

from patients import views as patient_views
from tmsclinic.inputs import IsoDateConverter

from . import appointments, dashboard, day, patients, reports, worklist

# A day outside the years the app accepts matches nothing: a 404, never an overflow.
register_converter(IsoDateConverter, "isodate")

app_name = "staff"

day_urls = [
    path("", day.today, name="today"),
    path("day/<isodate:day>/", day.day, name="day"),
    path("day/<isodate:day>/run-sheet/", day.run_sheet, name="run-sheet"),
    path("week/<isodate:day>/", day.week, name="week"),
]

appointment_urls = [
    path("book/", appointments.book, name="book"),
    path("appointments/<uuid:uuid>/", appointments.appointment, name="appointment"),
    path("appointments/<uuid:uuid>/<slug:action>/", appointments.appointment_action, name="appointment-action"),
]

# A patient's own data lives in the patients app; what needs the calendar lives here.
patient_urls = [
    path("", patient_views.patient_list, name="patients"),
    path("new/", patient_views.patient_new, name="patient-new"),
    path("search/", patient_views.patient_search, name="patient-search"),
    path("break-glass/", patient_views.break_glass, name="break-glass"),
    path("<uuid:uuid>/", patients.patient, name="patient"),
    path("<uuid:uuid>/edit/", patient_views.patient_edit, name="patient-edit"),
    path("<uuid:uuid>/phq9/", patient_views.phq9, name="phq9"),
    path("<uuid:uuid>/courses/new/", patients.start_course, name="start-course"),
    path("<uuid:uuid>/plans/new/", patients.plan_start, name="plan-start"),
    path("<uuid:uuid>/invite/", patients.invite, name="invite"),
    path("<uuid:uuid>/motor-threshold/recheck/", patients.mt_recheck, name="mt-recheck"),
    path("<uuid:uuid>/waitlist/", patients.waitlist_add, name="waitlist-add"),
    path("<uuid:uuid>/waitlist/withdraw/", patients.waitlist_withdraw, name="waitlist-withdraw"),
]

plan_urls = [
    path("<int:pk>/pause/", patients.plan_pause, name="plan-pause"),
    path("<int:pk>/resume/", patients.plan_resume, name="plan-resume"),
    path("<int:pk>/end/", patients.plan_end, name="plan-end"),
]

course_urls = [
    path("<int:pk>/authorisation/", patients.authorisation, name="authorisation"),
    path("<int:pk>/end/", patients.course_end, name="course-end"),
]

attention_urls = [
    path("", worklist.worklist, name="attention"),
    path("<int:pk>/book/", worklist.book_next, name="attention-book"),
    path("<int:pk>/outreach/", worklist.log_outreach, name="attention-outreach"),
    path("<int:pk>/message/", worklist.send_message, name="attention-message"),
    path("<int:pk>/snooze/", worklist.snooze, name="attention-snooze"),
    path("<int:pk>/resolve/", worklist.resolve, name="attention-resolve"),
]

report_urls = [
    path("outcomes/", reports.outcomes_report, name="outcomes-report"),
    path("outcomes.csv", reports.outcomes_csv, name="outcomes-csv"),
    path("billing/", reports.billing_report, name="billing"),
    path("adherence/", dashboard.adherence_dashboard, name="adherence"),
]

urlpatterns = [
    *day_urls,
    *appointment_urls,
    path("patients/", include(patient_urls)),
    path("courses/", include(course_urls)),
    path("plans/", include(plan_urls)),
    path("attention/", include(attention_urls)),
    path("reports/", include(report_urls)),
]
