"""Writing many rows fast, for ``seed_demo``: rows as plain tuples, written with ``executemany`` on
SQLite and ``COPY`` on PostgreSQL, with no model instance or ORM call per row.

A :class:`Table` keeps one model's rows as lists of database-ready values (text, numbers, ``NULL``)
in the order of its ``columns``; the writer hands them to the database a chunk at a time. Primary
keys are given by the table, counting on from the highest one in the database, so rows can point at
each other before anything is written, and the same seed writes the same keys on either backend.

A bulk load first takes the tables' indexes — and on PostgreSQL their unique, foreign-key and
exclusion constraints — off and puts them back at the end, inside the same transaction, as ``pg_restore`` does:
building an index once over all rows is far cheaper than updating it row by row, and putting a
constraint back checks every row against it — the data is held to the same rules.
"""

import csv
import datetime
import io
import queue
import threading
import time
import uuid

from django.core.management.color import no_style
from django.db import connection

UTC = datetime.UTC
# How many datetimes' texts :class:`Values` remembers (about 60 MB at most).
DATETIME_TEXTS = 400_000


class Values:
    """How each kind of value is written on this connection's backend."""

    def __init__(self):
        self.postgres = connection.vendor == "postgresql"
        # COPY's csv format reads \N as NULL (an empty string stays an empty string).
        self.NULL = r"\N" if self.postgres else None
        self.texts = {}

    def datetime(self, moment):
        """An aware datetime as the backend stores it: UTC, with its offset on PostgreSQL,
        naive on SQLite (Django's own format there, which lookups compare as text).

        The same moments come back again and again (a clinic's session times, day after day):
        each one's text is remembered, up to ``DATETIME_TEXTS`` of them."""
        text = self.texts.get(moment)
        if text is None:
            utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
            text = str(utc) if self.postgres else str(utc)[:-6]  # without "+00:00"
            if len(self.texts) < DATETIME_TEXTS:
                self.texts[moment] = text
        return text

    def converter(self, field):
        kind = field.get_internal_type()
        null = self.NULL
        if not type(field).__module__.startswith("django."):
            # A third-party field (a phone number): as it would prepare the value for a save.
            return lambda value: null if value is None else field.get_db_prep_save(value, connection)
        if kind == "DateTimeField":
            return lambda value: null if value is None else self.datetime(value)
        if kind == "DateField":
            return lambda value: null if value is None else value.isoformat()
        if kind == "UUIDField":
            return lambda value: null if value is None else value.hex
        if kind == "BooleanField":
            return lambda value: null if value is None else int(value)
        return lambda value: null if value is None else value


class Table:
    """One model's rows. ``fields`` (attribute names, the primary key first) are the values each
    :meth:`add` gives; every other column is a constant: its field's default, ``now`` for
    ``auto_now`` fields, NULL or an empty string otherwise."""

    def __init__(self, model, values, *, now, fields=None):
        self.model = model
        self.values = values
        concrete = model._meta.concrete_fields
        by_name = {field.attname: field for field in concrete}
        self.fields = [by_name[name] for name in fields] if fields else list(concrete)
        given = {field.attname for field in self.fields}
        constants = [field for field in concrete if field.attname not in given]
        self.constants = tuple(self._constant(field, now) for field in constants)
        self.columns = [field.column for field in self.fields + constants]
        now_text = values.datetime(now)
        self.converters = [
            (field.attname, self._or_now(values.converter(field), now_text) if self._automatic(field)
             else values.converter(field))
            for field in self.fields
        ]
        self.rows = []
        self.written = 0
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MAX(id) FROM {model._meta.db_table}")  # noqa: S608 (a model's table)
            self.next_pk = (cursor.fetchone()[0] or 0) + 1

    @staticmethod
    def _automatic(field):
        return getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)

    @staticmethod
    def _or_now(convert, now_text):
        """An auto_now field of an instance never saved is None: it gets ``now``, as save() would."""
        return lambda value: now_text if value is None else convert(value)

    def _constant(self, field, now):
        if self._automatic(field):
            return self.values.datetime(now)
        if field.has_default():
            default = field.get_default()
            if isinstance(default, uuid.UUID):
                raise ValueError(f"{field} has a random default: give it with each row")
            return self.values.converter(field)(default)
        if field.null:
            return self.values.NULL
        return ""

    def pk(self):
        """The primary key of the next row."""
        pk = self.next_pk
        self.next_pk += 1
        return pk

    def add(self, *values):
        """A row of ``fields``' values, already database-ready (see :class:`Values`)."""
        row = [*values, *self.constants]
        self.rows.append(row)
        return row

    def add_instance(self, obj):
        """A row from an unsaved model instance (its pk set from :meth:`pk`)."""
        self.rows.append([convert(getattr(obj, name)) for name, convert in self.converters] + list(self.constants))

    def flush(self, writer=None):
        """Hand the rows to ``writer`` (a :class:`Writer`), or write them now."""
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        self.written += len(rows)
        # Django's connection is the calling thread's: the writer's thread is handed the raw one.
        connection.ensure_connection()
        if writer is None:
            self.write(rows, connection.connection)
        else:
            writer.put(self.write, rows, connection.connection)

    def write(self, rows, raw):
        with connection.wrap_database_errors:  # Django's IntegrityError, as from the ORM
            self._write(rows, raw)

    def _write(self, rows, raw):
        table = self.model._meta.db_table
        columns = ", ".join(f'"{column}"' for column in self.columns)
        if self.values.postgres:
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows(rows)
            text.seek(0)
            with raw.cursor() as cursor:
                # Read in big pieces: each piece takes the interpreter lock back from the builder.
                cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", text,
                                   size=1 << 20)
        else:
            marks = ", ".join("?" * len(self.columns))
            raw.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608


class Writer:
    """Writes rows on a thread of its own while the caller builds the next ones: the database
    does its part (SQLite's B-trees, PostgreSQL's server process) with the interpreter lock
    released, so building and writing share the machine's cores. Same connection, same
    transaction; a failure is raised again by :meth:`close` (and by the next :meth:`put`)."""

    def __init__(self, depth=4):
        self.jobs = queue.Queue(maxsize=depth)
        self.error = None
        self.thread = threading.Thread(target=self._run, name="seed-writer", daemon=True)
        self.thread.start()

    def _run(self):
        while (job := self.jobs.get()) is not None:
            if self.error is None:
                try:
                    job[0](*job[1:])
                except BaseException as error:  # handed to the caller's thread  # noqa: BLE001
                    self.error = error

    def _raise(self):
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def put(self, function, *args):
        self._raise()
        self.jobs.put((function, *args))

    def close(self):
        """Wait for every row handed over to be written."""
        self.jobs.put(None)
        self.thread.join()
        self._raise()


class BulkLoad:
    """The tables of one load: their indexes, constraints and triggers off while it runs
    (:meth:`begin`) and back on, checked over every row, at the end (:meth:`finish`); sequences
    moved past the keys given. Call both inside one transaction. What a trigger keeps (BookedAt)
    is not kept during the load: rebuild it after."""

    def __init__(self, models):
        self.models = models
        self.dropped = []
        self.cache_size = None

    def begin(self):
        tables = [model._meta.db_table for model in self.models]
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                # Indexes are built once at the end (SQLite sorts for that), in a bigger page cache.
                cursor.execute("PRAGMA cache_size")
                self.cache_size = cursor.fetchone()[0]
                cursor.execute("PRAGMA cache_size = -262144")
                placeholders = ", ".join(["%s"] * len(tables))
                cursor.execute(f"SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' "  # noqa: S608
                               f"AND sql IS NOT NULL AND tbl_name IN ({placeholders}) ORDER BY name", tables)
                indexes = cursor.fetchall()
                cursor.execute(f"SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'trigger' "  # noqa: S608
                               f"AND tbl_name IN ({placeholders}) ORDER BY name", tables)
                triggers = cursor.fetchall()
                for _, name, _ in indexes:
                    cursor.execute(f'DROP INDEX "{name}"')
                for _, name, _ in triggers:
                    cursor.execute(f'DROP TRIGGER "{name}"')
                self.dropped = [("index", *index) for index in indexes] + [("trigger", *t) for t in triggers]
                return
            # Checks deferred so far (rows written before the load) run now, not after the drop.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('f', 'u', 'x') ORDER BY contype DESC, conname",
                [tables])
            constraints = cursor.fetchall()
            cursor.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname", [tables])
            indexes = cursor.fetchall()
            for table, name, _ in constraints:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for _, name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            # A row trigger would run for every row COPY writes.
            for table in tables:
                cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
        self.dropped = ([("index", *index) for index in indexes] + [("constraint", *c) for c in constraints]
                        + [("triggers", table, None, None) for table in tables])

    def finish(self, report=None):
        """Put the indexes and constraints back; ``report(seconds, what)`` hears of each that
        took a second or more."""
        postgres = connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            if self.dropped and postgres:
                cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for kind, table, name, definition in self.dropped:
                started = time.perf_counter()
                if kind in ("index", "trigger"):
                    cursor.execute(definition)
                elif kind == "triggers":
                    cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
                else:
                    cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                if report is not None and time.perf_counter() - started >= 1:
                    report(time.perf_counter() - started, f"{table}: {name}")
            if self.dropped and postgres:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            if self.cache_size is not None:
                cursor.execute(f"PRAGMA cache_size = {int(self.cache_size)}")
                self.cache_size = None
            for sql in connection.ops.sequence_reset_sql(no_style(), self.models):
                cursor.execute(sql)
        self.dropped = []
