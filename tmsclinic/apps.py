from django.apps import AppConfig


class TmsClinicConfig(AppConfig):
    name = "tmsclinic"
    verbose_name = "TMS Clinic"

    def ready(self):
        # Connect signal handlers: the audit trail's, the start of a login's logoff clocks, and
        # whether a login's account has a second factor (remembered in its session).
        from . import logoff, signals  # noqa: F401
        from .accounts import mfa  # noqa: F401
