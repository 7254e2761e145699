import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tmsclinic.settings")

app = Celery("tmsclinic")
# Every CELERY_* setting in tmsclinic/settings.py configures the app.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
