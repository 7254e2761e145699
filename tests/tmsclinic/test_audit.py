"""The audit trail: chained so that an edited, inserted or removed event is found; append-only
in PostgreSQL; pruned after the retention period without breaking the chain; and complete —
every staff and portal page that shows a patient's data leaves an event naming them, derived
from the URL map so that a new page cannot forget."""

import datetime
import hashlib
import hmac
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from tests import factories
from tests.factories import UserFactory
from tmsclinic import audit
from tmsclinic.models import AuditChain, AuditEvent

UTC = datetime.UTC


def independent_hmac(prev, row, key):
    """The chain's rule recomputed from a raw row, without tmsclinic.audit's helpers."""
    content = json.dumps([prev, row["seq"], row["at"].astimezone(UTC).isoformat(), row["user_id"], row["username"],
                          row["patient_id"], row["action"], row["path"], row["status"], row["ip"], row["detail"]],
                         ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, content.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def events(db, patient):
    user = UserFactory(username="nurse")
    return [audit.record("read", user=user, patient=patient, path=f"/staff/patients/{n}/", status=200,
                         detail=f"event {n}") for n in range(5)]


def tamper(**changes):
    """Change a stored event as someone with database access would, past the trigger."""
    import pgtrigger

    with pgtrigger.ignore("tmsclinic.AuditEvent:append_only"):
        AuditEvent.objects.filter(seq=3).update(**changes) if changes else AuditEvent.objects.filter(seq=3).delete()


def test_each_event_is_chained_to_the_one_before_by_an_hmac_of_its_content(events, settings):
    rows = list(AuditEvent.objects.order_by("seq").values())
    key = (settings.TMS_AUDIT_KEY or settings.SECRET_KEY).encode()
    prev = AuditChain.GENESIS
    for row in rows:
        assert row["prev_hash"] == prev
        assert row["hash"] == independent_hmac(prev, row, key)
        prev = row["hash"]
    assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
    assert [row["detail"] for row in rows][-5:] == [f"event {n}" for n in range(5)]
    assert audit.verify() == len(rows)


@pytest.mark.parametrize("changes", [{"detail": "nothing to see"}, {"username": "someone else"}, {"patient": None}, {}],
                         ids=["detail edited", "user edited", "patient removed", "event deleted"])
def test_verify_audit_finds_the_first_broken_link(events, changes, capsys):
    call_command("verify_audit")
    assert f"intact: {AuditEvent.objects.count()} events" in capsys.readouterr().out
    tamper(**changes)
    with pytest.raises(CommandError, match="broken at event (3|4)"):
        call_command("verify_audit")


def test_a_forged_event_with_a_recomputed_plain_hash_is_still_found(events):
    # Whoever can write to the database but does not hold the key cannot re-chain the rows.
    import pgtrigger

    row = AuditEvent.objects.get(seq=3)
    forged = hashlib.sha256(f"{row.prev_hash}forged".encode()).hexdigest()
    with pgtrigger.ignore("tmsclinic.AuditEvent:append_only"):
        AuditEvent.objects.filter(seq=3).update(detail="forged", hash=forged)
        AuditEvent.objects.filter(seq=4).update(prev_hash=forged)
    with pytest.raises(audit.Broken) as broken:
        audit.verify()
    assert broken.value.seq == 3


def test_removing_the_newest_events_is_found_too(events):
    import pgtrigger

    with pgtrigger.ignore("tmsclinic.AuditEvent:append_only"):
        AuditEvent.objects.filter(seq__gte=4).delete()
    with pytest.raises(audit.Broken, match="newest events are missing"):
        audit.verify()


@pytest.mark.usefixtures("on_postgres")
@pytest.mark.parametrize("statement", [
    "UPDATE tmsclinic_auditevent SET detail = 'changed' WHERE seq = 2",
    "DELETE FROM tmsclinic_auditevent WHERE seq = 2",
])
def test_postgresql_refuses_to_change_or_delete_an_event(events, statement):
    assert AuditEvent.objects.get(seq=2).detail == "event 0"
    refused = pytest.raises(DatabaseError, match="Cannot update or delete")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.get(seq=2).detail == "event 0"


def test_pruning_removes_old_events_records_itself_and_keeps_the_chain_checkable(db, settings):
    settings.TMS_AUDIT_RETENTION_DAYS = 30
    with time_machine.travel(datetime.datetime(2026, 1, 1, tzinfo=UTC)):
        for n in range(3):
            audit.record("read", path=f"/old/{n}")
    with time_machine.travel(datetime.datetime(2026, 3, 1, tzinfo=UTC)):
        audit.record("read", path="/recent")
        assert audit.prune() == 3
    kept = list(AuditEvent.objects.order_by("seq").values_list("path", "action"))
    assert kept == [("/recent", "read"), ("", "prune")]
    assert "3 events older than 30 days" in AuditEvent.objects.get(action="prune").detail
    assert audit.verify() == 2


# --- Completeness: every page that shows a patient leaves an event naming them -----------------


def test_logins_failed_logins_and_logouts_are_events(client, db):
    UserFactory(username="sam", password="a-long-enough-password")
    client.post(reverse("login"), {"username": "sam", "password": "wrong-password-here"})
    client.post(reverse("login"), {"username": "sam", "password": "a-long-enough-password"})
    client.post(reverse("logout"))
    assert list(AuditEvent.objects.exclude(action="permissions").order_by("seq").values_list("action", "username")) == [
        ("login_failed", ""), ("login", "sam"), ("logout", "sam")]
    assert AuditEvent.objects.get(action="login_failed").detail == "username: sam"


def test_granting_a_role_is_an_event_naming_the_account(db):
    from django.contrib.auth.models import Group

    user = UserFactory(username="newhire")
    user.groups.add(Group.objects.get(name="Clinician"))
    assert AuditEvent.objects.filter(action="permissions", detail="newhire: add roles Clinician").exists()


@pytest.fixture
def world(db, clinic, patient, frozen):
    return {"patient": patient, "by_segment": factories.one_of_everything(patient)}


def test_every_staff_page_leaves_an_event_naming_the_patient_it_shows(client, superuser, world):
    from tests.tmsclinic.test_url_map import routes, url_for

    client.force_login(superuser)
    for name, pattern in routes("staff").items():
        url, names_patient = url_for("staff", name, pattern, world["by_segment"])
        before = AuditEvent.objects.count()
        response = client.get(url)
        assert response.status_code < 500, url
        event = AuditEvent.objects.filter(seq__gt=before, path=url).first()
        assert event is not None, f"GET {url} left no audit event"
        assert event.username == "root" and event.status == response.status_code
        if names_patient and response.status_code == 200:
            assert event.patient_id == world["patient"].pk, f"GET {url} did not name the patient it showed"


def test_every_portal_page_of_a_signed_in_patient_leaves_an_event_naming_them(client, world):
    from tests.tmsclinic.test_url_map import PORTAL_WITHOUT_LOGIN, routes, url_for

    client.force_login(world["patient"].user)
    checked = 0
    for name, pattern in routes("portal").items():
        if name in PORTAL_WITHOUT_LOGIN:
            continue
        url, _ = url_for("portal", name, pattern, world["by_segment"])
        before = AuditEvent.objects.count()
        response = client.get(url)
        assert response.status_code < 500, url
        event = AuditEvent.objects.filter(seq__gt=before, path=url).first()
        assert event is not None, f"GET {url} left no audit event"
        assert event.patient_id == world["patient"].pk, url
        checked += 1
    assert checked >= 10


def test_the_calendar_feed_read_without_a_login_is_an_export_naming_the_patient(client, world):
    patient = world["patient"]
    patient.calendar_token = "k" * 40
    patient.save()
    client.get(reverse("portal:calendar-feed", args=[patient.calendar_token]))
    event = AuditEvent.objects.get(path=reverse("portal:calendar-feed", args=[patient.calendar_token]))
    assert (event.action, event.patient_id, event.username) == ("export", patient.pk, "")


def test_a_refused_page_is_recorded_as_refused(client, technician, world):
    client.force_login(technician)
    url = reverse("staff:outcomes-csv")
    assert client.get(url).status_code == 403
    assert AuditEvent.objects.get(path=url).action == "denied"


def test_clinicians_see_who_opened_a_record_and_the_front_desk_does_not(client, world, front_desk, clinician):
    patient_page = reverse("staff:patient", args=[world["patient"].uuid])
    client.force_login(front_desk)
    first = client.get(patient_page).content.decode()
    assert 'data-testid="opened-by"' not in first
    client.force_login(clinician)
    page = client.get(patient_page).content.decode()
    table = page[page.index('data-testid="opened-by"'):]
    assert "frontdesk" in table[:2000] and "Read" in table[:2000]
