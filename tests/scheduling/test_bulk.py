"""scheduling.management.bulk: rows written with executemany/COPY read back through the ORM as
the ORM would have written them; a bulk load puts back every index and constraint it took off,
and holds the rows to them."""

import datetime
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction

from patients.models import Patient
from scheduling.management.bulk import BulkLoad, Table, Values, Writer
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


def test_text_with_commas_quotes_and_line_breaks_survives_copy(db):
    clinic = ClinicFactory()
    awkward = 'Chair "A", left\nof the door \\ window'
    table = Table(Chair, Values(), now=NOW)
    chair = Chair(pk=table.pk(), clinic=clinic, name=awkward)
    table.add_instance(chair)
    writer = Writer()  # on a thread of its own, as seed_demo writes
    table.flush(writer)
    writer.close()
    assert Chair.objects.get(pk=chair.pk).name == awkward


def test_a_writer_hands_a_failure_back_to_the_caller(db):
    writer = Writer()
    writer.put(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        writer.close()


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
