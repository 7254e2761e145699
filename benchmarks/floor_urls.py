"""The floors of a page, for bench_pages.py: the project's URLs and two pages with nothing on
them (not in the project's URL map: only the benchmark mounts them). Each does what every page
of its kind must — the staff one asks for a capability, writes an audit event (it is under
/staff/) and draws the base template with its navigation and open-flag count; the portal one
loads the signed-in patient, writes its audit event and draws the portal's base template — and
shows nothing else. What a real page costs beyond its floor is its own."""

from django.shortcuts import render
from django.urls import include, path

from tmsclinic.roles import SEE_PATIENTS, patient_required, staff_required

EMPTY_PAGES = {"staff": "/staff/bench-empty/", "portal": "/portal/bench-empty/"}


@staff_required(SEE_PATIENTS)
def empty_staff_page(request):
    return render(request, "base.html", {})


@patient_required
def empty_portal_page(request):
    return render(request, "portal/base.html", {})


urlpatterns = [
    path(EMPTY_PAGES["staff"].lstrip("/"), empty_staff_page),
    path(EMPTY_PAGES["portal"].lstrip("/"), empty_portal_page),
    path("", include("tmsclinic.urls")),
]
