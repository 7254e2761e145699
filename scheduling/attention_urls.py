"""URLs of the staff's attention pages, included by scheduling/urls.py into the "staff" namespace."""

urlpatterns = []
