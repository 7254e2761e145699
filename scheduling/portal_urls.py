"""The patient portal, under /portal/. Views live in scheduling/portal.py (account, home,
PHQ-9, calendar, preferences) and scheduling/portal_booking.py (self-booking, cancel and
reschedule)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import portal

app_name = "portal"

urlpatterns = [
    path("r/<str:token>/", portal.reminder_link, name="reminder-link"),
    path("login/", auth_views.LoginView.as_view(template_name="portal/login.html"), name="login"),
    path("", include("scheduling.portal_booking_urls")),
]
