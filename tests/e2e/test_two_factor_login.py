import datetime

import pytest
import time_machine
from playwright.sync_api import expect

from tests.factories import PASSWORD, ChairFactory, ClinicFactory, staff_user
from tests.tmsclinic.accounts.conftest import key_of_secret, totp

pytestmark = pytest.mark.browser


def log_in(page, username):
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def start_of_a_code_window():
    """The clock at the start of a 30-second TOTP window (running): the code typed is never
    from the window before the server checks it, as it was once under load."""
    with time_machine.travel(datetime.datetime(2027, 2, 3, 15, 0, 0, tzinfo=datetime.UTC), tick=True):
        yield


def test_a_technician_sets_up_an_app_then_logs_in_with_a_recovery_code(page, transactional_db, settings,
                                                                     start_of_a_code_window):
    settings.TMS_MFA_REQUIRED = True
    ChairFactory(clinic=ClinicFactory(name="Riverside TMS", time_zone="America/New_York"), name="Chair A")
    staff_user(role="Technician", username="tech")

    # The second factor is required and the account has none: after the password, set one up.
    log_in(page, "tech")
    page.get_by_role("heading", name="Set up two-factor sign-in").wait_for()
    expect(page.get_by_role("img", name="QR code to scan with your authenticator app")).to_be_visible()
    # Any staff page sends back here until it is done.
    page.goto("/staff/")
    page.get_by_role("heading", name="Set up two-factor sign-in").wait_for()
    key = key_of_secret(page.get_by_test_id("secret").inner_text())
    page.get_by_label("Code from the app").fill(totp(key))
    page.get_by_role("button", name="Confirm").click()

    codes = page.get_by_test_id("recovery-codes").get_by_role("listitem").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I have kept them: continue").click()
    page.get_by_role("heading", name="Riverside TMS").wait_for()

    page.get_by_role("button", name="Log out").click()
    log_in(page, "tech")
    page.get_by_role("heading", name="Two-factor sign-in").wait_for()
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Riverside TMS").wait_for()
    expect(page.get_by_role("alert")).to_contain_text("You used a recovery code: 9 left")
