from django.urls import path

from . import views

# Included by scheduling.urls under "patients/" in the "staff" namespace.
urlpatterns = [
    path("", views.patient_list, name="patients"),
    path("new/", views.patient_new, name="patient-new"),
    path("search/", views.patient_search, name="patient-search"),
    path("<uuid:uuid>/edit/", views.patient_edit, name="patient-edit"),
]
