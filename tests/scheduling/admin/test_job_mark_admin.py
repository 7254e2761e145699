"""Job marks in Django admin: written by the jobs, read-only here."""

import datetime

import pytest

from scheduling.models import JobMark
from tests.admin_pages import admin_url

UTC = datetime.UTC
pytestmark = pytest.mark.usefixtures("_fast_password_hashing")


def test_job_marks_are_read_only_in_admin(admin_client):
    mark = JobMark.objects.create(job="flag_overdue_patients:no-shows",
                                  reached=datetime.datetime(2026, 11, 1, tzinfo=UTC))
    url = admin_url(JobMark, "change", mark.pk)
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"job": mark.job, "reached_0": "2030-01-01", "reached_1": "00:00:00"})
    assert response.status_code == 403
    assert JobMark.objects.get().reached == mark.reached
    assert admin_client.get(admin_url(JobMark, "add")).status_code == 403
