"""Self-booking URLs, included into the "portal" namespace by scheduling/portal_urls.py."""

urlpatterns = []
