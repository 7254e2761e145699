from django.urls import path

from . import portal

app_name = "portal"

urlpatterns = [
    path("r/<str:token>/", portal.reminder_link, name="reminder-link"),
]
