from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self):
        # A chair put back in service frees its time for the waitlist (receivers on Chair's saves).
        from .services import waitlist  # noqa: F401
