"""URLs of the staff's attention pages, included by scheduling/urls.py into the "staff" namespace."""

from django.urls import path

from . import attention

urlpatterns = [
    path("", attention.worklist, name="attention"),
    path("<int:pk>/book/", attention.book_next, name="attention-book"),
    path("<int:pk>/outreach/", attention.log_outreach, name="attention-outreach"),
    path("<int:pk>/snooze/", attention.snooze, name="attention-snooze"),
    path("<int:pk>/resolve/", attention.resolve, name="attention-resolve"),
]
