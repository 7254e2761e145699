"""The patient portal, under /portal/. Views live in scheduling/portal.py (account, home,
PHQ-9, calendar, preferences) and scheduling/portal_booking.py (self-booking, cancel and
reschedule)."""

from django.urls import include, path
from django.views.generic import TemplateView

from . import portal

app_name = "portal"

urlpatterns = [
    path("", portal.home, name="home"),
    path("r/<str:token>/", portal.reminder_link, name="reminder-link"),
    path("login/", portal.LoginView.as_view(), name="login"),
    path("logout/", portal.LogoutView.as_view(), name="logout"),
    path("password-reset/", portal.PasswordResetView.as_view(), name="password-reset"),
    path("password-reset/sent/", TemplateView.as_view(template_name="portal/password_reset_sent.html"),
         name="password-reset-sent"),
    path("set-password/<uidb64>/<token>/", portal.SetPasswordView.as_view(), name="set-password"),
    path("invite/<uuid:uuid>/", portal.invite, name="invite"),
    path("check-in/", portal.phq9, name="phq9"),
    path("check-in/done/", portal.phq9_done, name="phq9-done"),
    path("preferences/", portal.preferences, name="preferences"),
    path("preferences/calendar/", portal.calendar_token, name="calendar-token"),
    path("calendar/<str:token>.ics", portal.calendar_feed, name="calendar-feed"),
    path("appointments/<uuid:uuid>.ics", portal.appointment_ics, name="appointment-ics"),
    path("", include("scheduling.portal_booking_urls")),
]
