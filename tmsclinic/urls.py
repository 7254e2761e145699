from django.contrib import admin
from django.urls import include, path

from . import views
from .accounts import views as account_views

admin.site.site_header = "TMS Clinic administration"
admin.site.site_title = "TMS Clinic admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico where a page names no icon (the error pages, files).
    path("favicon.ico", views.favicon, name="favicon"),
    path("session/status", views.session_status, name="session-status"),
    path("session/keepalive", views.session_keepalive, name="session-keepalive"),
    path("accounts/", include("tmsclinic.accounts.urls")),
    # Admin's own login would skip the staff login's second step: it sends there instead.
    path("admin/login/", account_views.admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("staff/", include("scheduling.staff.urls")),
    path("portal/", include("scheduling.portal.urls")),
]
