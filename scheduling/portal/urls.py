"""The whole /portal/ map, in the "portal" namespace: what a patient sees. Views that need a
login ask for ``patient_required``; the rest carry an unguessable key (reminder link, calendar
feed, set-password) or are the login itself. tests/tmsclinic/test_url_map.py walks this map."""

from django.urls import path
from django.views.generic import TemplateView

from . import accounts, booking, ical, outreach, views, waitlist

app_name = "portal"

account_urls = [
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("logout/", accounts.LogoutView.as_view(), name="logout"),
    path("password-reset/", accounts.PasswordResetView.as_view(), name="password-reset"),
    path("password-reset/sent/", TemplateView.as_view(template_name="portal/password_reset_sent.html"),
         name="password-reset-sent"),
    path("set-password/<uidb64>/<token>/", accounts.SetPasswordView.as_view(), name="set-password"),
]

booking_urls = [
    path("book/", booking.book, name="book"),
    path("book/slot/", booking.book_slot_view, name="book-slot"),
    path("appointments/<uuid:uuid>/", booking.appointment_detail, name="appointment"),
    path("appointments/<uuid:uuid>/cancel/", booking.cancel_view, name="cancel"),
    path("appointments/<uuid:uuid>/reschedule/", booking.reschedule_view, name="reschedule"),
]

calendar_urls = [
    path("calendar/<str:token>.ics", ical.calendar_feed, name="calendar-feed"),
    path("appointments/<uuid:uuid>.ics", ical.appointment_ics, name="appointment-ics"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("r/<str:token>/", views.reminder_link, name="reminder-link"),
    path("back/<str:token>/", outreach.come_back, name="come-back"),
    # The SMS provider's webhook for replies (a patient's STOP), behind TMS_SMS_INBOUND_TOKEN.
    path("sms/inbound/", outreach.sms_inbound, name="sms-inbound"),
    path("check-in/", views.phq9, name="phq9"),
    path("check-in/done/", views.phq9_done, name="phq9-done"),
    path("preferences/", views.preferences, name="preferences"),
    path("preferences/calendar/", views.calendar_token, name="calendar-token"),
    path("waitlist/", waitlist.waitlist_page, name="waitlist"),
    path("waitlist/withdraw/", waitlist.waitlist_withdraw, name="waitlist-withdraw"),
    path("offers/<str:token>/", waitlist.offer, name="offer"),
    *account_urls,
    *calendar_urls,
    *booking_urls,
]
