from django.apps import AppConfig


class TmsClinicConfig(AppConfig):
    name = "tmsclinic"
    verbose_name = "TMS Clinic"
