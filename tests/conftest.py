import os
import shutil

import pytest
from django.db import connection

from tests import factories


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # The manifest storage needs collectstatic; tests serve files straight from the finders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def on_postgres():
    """For tests that need PostgreSQL. Skipped, saying so, only on the SQLite default;
    CI sets DATABASE_URL, where they always run."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://… to run it")


@pytest.fixture
def clinic(db):
    return factories.ClinicFactory(name="Riverside TMS", time_zone="America/New_York")


@pytest.fixture
def chair(clinic):
    return factories.ChairFactory(clinic=clinic, name="Chair 1")


@pytest.fixture
def patient(clinic):
    return factories.PatientFactory(home_clinic=clinic)


@pytest.fixture
def front_desk(db):
    return factories.staff_user(username="frontdesk", role="Front desk")


@pytest.fixture
def technician(db):
    return factories.staff_user(username="tech", role="Technician")


@pytest.fixture
def clinician(db):
    return factories.staff_user(username="clinician", role="Clinician")


@pytest.fixture
def superuser(db):
    from django.contrib.auth.models import User

    return User.objects.create_superuser("root", "root@clinic.test", factories.PASSWORD)


def chromium_path():
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
