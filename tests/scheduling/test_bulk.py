"""scheduling.management.bulk: rows written with executemany/COPY read back through the ORM as
the ORM would have written them; a bulk load puts back every index and constraint it took off,
and holds the rows to them."""

import datetime
import os
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction

from patients.models import Patient
from scheduling.management.bulk import BulkLoad, Parts, Table, Values
from scheduling.models import Appointment, Chair
from tests.factories import ClinicFactory, PatientFactory

NOW = datetime.datetime(2026, 3, 29, 0, 30, 15, 250, tzinfo=datetime.UTC)


def schema(tables):
    """Every index, constraint and trigger of the tables (on PostgreSQL with whether it is
    enabled), as the database describes them."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [tables])
            rows = cursor.fetchall()
            cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                           "WHERE conrelid = ANY(%s::regclass[])", [tables])
            rows += cursor.fetchall()
            cursor.execute("SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = ANY(%s::regclass[]) "
                           "AND NOT tgisinternal", [tables])
            return sorted(rows + cursor.fetchall())
        placeholders = ", ".join(["%s"] * len(tables))
        cursor.execute(f"SELECT name, sql FROM sqlite_master WHERE tbl_name IN ({placeholders})", tables)  # noqa: S608
        return sorted(cursor.fetchall())


def test_a_patient_written_in_bulk_reads_back_as_the_orm_wrote_it(db):
    clinic = ClinicFactory()
    model = PatientFactory.build(home_clinic=clinic, phone="+12125550123", email_consent=True,
                                 email_consent_at=datetime.datetime(2026, 3, 8, 7, 30, tzinfo=datetime.UTC),
                                 sms_consent=False, uuid=uuid.uuid4())
    model.save()
    expected = Patient.objects.filter(pk=model.pk).values().get()

    table = Table(Patient, Values(), now=NOW)
    copy = PatientFactory.build(home_clinic=clinic, **{
        name: value for name, value in expected.items() if name not in ("id", "home_clinic_id", "mrn", "uuid")})
    copy.pk, copy.mrn, copy.uuid = table.pk(), "COPY1", uuid.uuid4()
    assert copy.pk == model.pk + 1  # counting on from the highest key
    copy.created_at = copy.updated_at = None  # as a model never saved has them: now
    table.add_instance(copy)
    table.flush()

    written = Patient.objects.filter(pk=copy.pk).values().get()
    assert written.pop("created_at") == written.pop("updated_at") == NOW
    for name in ("id", "mrn", "uuid", "created_at", "updated_at"):
        expected.pop(name)
    assert {name: written[name] for name in expected} == expected
    assert Patient.objects.get(pk=copy.pk).phone.as_e164 == "+12125550123"


def test_datetimes_are_written_in_utc_however_often_they_come(db):
    values = Values()
    local = NOW.astimezone(ZoneInfo("Australia/Sydney"))
    texts = {values.datetime(moment) for moment in (NOW, local, NOW, local)}
    assert texts == {"2026-03-29 00:30:15.000250+00:00" if values.postgres else "2026-03-29 00:30:15.000250"}


@pytest.mark.parametrize("in_processes", [True, False], ids=["built in another process", "built here"])
def test_text_with_commas_quotes_and_line_breaks_survives_copy(db, in_processes):
    clinic = ClinicFactory()
    awkward = 'Chair "A", left\nof the door \\ window'
    table = Table(Chair, Values(), now=NOW)

    def build(part, send):
        chair = Chair(pk=table.pk(), clinic=clinic, name=f"{awkward} {part}")
        table.add_instance(chair)
        send(1)
        return chair.pk

    pks = Parts([table], in_processes=in_processes).run(build)
    assert [Chair.objects.get(pk=pk).name for pk in pks] == [f"{awkward} 0", f"{awkward} 1"]


def test_parts_are_built_in_processes_of_their_own_with_keys_of_their_own(db):
    clinic = ClinicFactory()
    table = Table(Chair, Values(), now=NOW)
    first = table.next_pk
    heard = []

    def build(part, send):
        keys = []
        for number in range(5):
            keys.append(table.pk())
            table.add_instance(Chair(pk=keys[-1], clinic=clinic, name=f"Chair {part}.{number}"))
            if number % 2:
                send(2)
        return os.getpid(), keys

    results = Parts([table], parts=3).run(build, progress=heard.append)
    pids = {pid for pid, _ in results}
    assert len(pids) == 3 and os.getpid() not in pids
    keys = sorted(key for _, part_keys in results for key in part_keys)
    assert keys == list(range(first, first + 15))  # dealt out: every key once, none missed
    assert sorted(Chair.objects.filter(clinic=clinic).values_list("pk", flat=True)) == keys
    assert table.written == 15 and sum(heard) == 12  # two sends of 2 in each part, and the last
    after, then = table.pk(), table.pk()
    assert after > max(keys) and then == after + 1  # on past them all, one by one
    assert Chair.objects.get(pk=results[1][1][0]).name == "Chair 1.0"


def test_a_part_that_fails_is_raised_here_with_its_traceback(db):
    def build(part, send):
        if part == 1:
            raise ValueError("no such protocol")
        return part

    with pytest.raises(RuntimeError, match=r"(?s)seed part 1 failed.*ValueError: no such protocol"):
        Parts([], parts=2).run(build)


@pytest.mark.parametrize("in_processes", [True, False], ids=["built in other processes", "built here"])
def test_a_part_may_not_query_the_database(db, in_processes):
    def build(part, send):
        return Chair.objects.count()  # the parent's connection, from a forked process

    with pytest.raises(RuntimeError, match="a seed part"):
        Parts([], parts=2, in_processes=in_processes).run(build)
    assert Chair.objects.count() == 0  # and the connection here still works


def test_a_forked_part_cannot_reach_the_parents_connection_even_by_hand(db):
    def build(part, send):
        try:
            connection.ensure_connection()  # a new connection, or the inherited one by the back door
        except RuntimeError as refused:
            return str(refused)
        return "connected"

    assert Parts([], parts=2).run(build) == ["a seed part may not use the database (it must build from what "
                                             "was read before)"] * 2
    assert Chair.objects.count() == 0


def test_rows_added_before_the_parts_are_refused(db):
    clinic = ClinicFactory()
    table = Table(Chair, Values(), now=NOW)
    table.add_instance(Chair(pk=table.pk(), clinic=clinic, name="Chair 1"))
    with pytest.raises(ValueError, match="write its rows before building in parts"):
        Parts([table]).run(lambda part, send: None)
    table.flush()
    first = table.next_pk  # keys already given are not dealt out again
    Parts([table]).run(lambda part, send: table.pk())
    assert table.next_pk > first


def test_a_bulk_load_puts_back_every_index_constraint_and_trigger(db):
    tables = [Appointment._meta.db_table, Chair._meta.db_table]
    before = schema(tables)
    assert any(name == "booked_at_insert" for name, _ in before)  # BookedAt's triggers are among them
    load = BulkLoad([Appointment, Chair])
    load.begin()
    assert schema(tables) != before  # something was taken off
    load.finish()
    assert schema(tables) == before


def test_a_bulk_load_holds_the_rows_to_the_constraints_it_puts_back(db):
    clinic = ClinicFactory()
    load = BulkLoad([Chair])
    load.begin()
    table = Table(Chair, Values(), now=NOW)
    for _ in range(2):  # two chairs of one name in one clinic: chair_name_unique_in_clinic
        table.add_instance(Chair(pk=table.pk(), clinic=clinic, name="Chair 1"))
    # SQLite keeps this one in the table itself and refuses the row at once; PostgreSQL when the
    # constraint is put back.
    with pytest.raises(IntegrityError), transaction.atomic():
        table.flush()
        load.finish()


@pytest.mark.django_db(transaction=True)
def test_after_a_bulk_load_new_rows_get_keys_past_the_ones_given():
    clinic = ClinicFactory()
    with transaction.atomic():
        load = BulkLoad([Chair])
        load.begin()
        table = Table(Chair, Values(), now=NOW)
        given = [table.pk() + 100 for _ in range(3)]
        for pk in given:
            table.add_instance(Chair(pk=pk, clinic=clinic, name=f"Chair {pk}"))
        table.flush()
        load.finish()
    assert Chair.objects.create(clinic=clinic, name="After").pk > max(given)
