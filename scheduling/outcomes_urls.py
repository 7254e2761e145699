"""URLs of the staff's outcomes pages, included by scheduling/urls.py into the "staff" namespace."""

urlpatterns = []
