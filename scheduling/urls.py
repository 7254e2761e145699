import datetime

from django.urls import include, path, register_converter

from . import views


class IsoDateConverter:
    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value):
        return datetime.date.fromisoformat(value)

    def to_url(self, value):
        return value.isoformat()


register_converter(IsoDateConverter, "isodate")

app_name = "staff"

urlpatterns = [
    path("", views.today, name="today"),
    path("day/<isodate:day>/", views.day, name="day"),
    path("week/<isodate:day>/", views.week, name="week"),
    path("book/", views.book, name="book"),
    path("appointments/<uuid:uuid>/", views.appointment, name="appointment"),
    path("appointments/<uuid:uuid>/<slug:action>/", views.appointment_action, name="appointment-action"),
    # Patient list, search and forms live in the patients app; their names share this namespace.
    path("patients/", include("patients.urls")),
    path("patients/<uuid:uuid>/", views.patient, name="patient"),
    path("patients/<uuid:uuid>/courses/new/", views.start_course, name="start-course"),
    # The "needs attention" worklist, and outcomes (PHQ-9, plans, reports): same namespace.
    path("attention/", include("scheduling.attention_urls")),
    path("", include("scheduling.outcomes_urls")),
]
