from django.contrib import admin
from django.urls import include, path

from . import views

admin.site.site_header = "TMS Clinic administration"
admin.site.site_title = "TMS Clinic admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("staff/", include("scheduling.staff.urls")),
    path("portal/", include("scheduling.portal.urls")),
]
