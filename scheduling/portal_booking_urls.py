"""Self-booking URLs, included into the "portal" namespace by scheduling/portal_urls.py."""

from django.urls import path

from . import portal_booking

urlpatterns = [
    path("book/", portal_booking.book, name="book"),
    path("book/slot/", portal_booking.book_slot_view, name="book-slot"),
    path("appointments/<uuid:uuid>/", portal_booking.appointment_detail, name="appointment"),
    path("appointments/<uuid:uuid>/cancel/", portal_booking.cancel_view, name="cancel"),
    path("appointments/<uuid:uuid>/reschedule/", portal_booking.reschedule_view, name="reschedule"),
]
