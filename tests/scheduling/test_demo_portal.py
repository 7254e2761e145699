from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from scheduling.management.commands.seed_demo import demo_portal_logins


def test_seed_demo_opens_two_portal_accounts_that_work(client, db, capsys):
    call_command("seed_demo", patients=60, seed=3)
    out = capsys.readouterr().out
    logins = demo_portal_logins()
    assert sorted(stage for _, stage in logins) == ["maintenance on time", "maintenance overdue"]
    for email, _ in logins:
        assert email in out
        assert client.login(username=email, password=settings.DEMO_PASSWORD)
        assert client.get(reverse("portal:home")).status_code == 200
        client.logout()

    call_command("seed_demo", if_empty=True)
    again = capsys.readouterr().out
    assert all(email in again for email, _ in logins)  # make run prints them on every start
