"""Writing many rows fast, for ``seed_demo``: rows as plain tuples, written with ``executemany`` on
SQLite and ``COPY`` on PostgreSQL, with no model instance or ORM call per row.

A :class:`Table` keeps one model's rows as lists of database-ready values (text, numbers, ``NULL``)
in the order of its ``columns``, handed to the database a chunk at a time. Primary keys are given
by the table, counting on from the highest one in the database, so rows can point at each other
before anything is written, and the same seed writes the same keys on either backend.
:class:`Parts` builds rows in several processes at once (the keys dealt out between them) and
writes them all from the one that holds the connection and its transaction.

A bulk load first takes the tables' indexes — and on PostgreSQL their unique, foreign-key and
exclusion constraints — off and puts them back at the end, inside the same transaction, as ``pg_restore`` does:
building an index once over all rows is far cheaper than updating it row by row, and putting a
constraint back checks every row against it — the data is held to the same rules.
"""

import csv
import datetime
import io
import multiprocessing
import multiprocessing.connection
import signal
import time
import traceback
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

    def __init__(self, model, values, *, now, fields=None, order=None):
        self.model = model
        self.order = order
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
        self.step = 1

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
        self.next_pk += self.step
        return pk

    def share(self, part, parts):
        """Keys for the ``part``-th of ``parts`` builders: every ``parts``-th key from the first,
        from the ``part``-th on, so that builders working apart never give the same one."""
        self.next_pk, self.step = self.first_pk + part, parts

    def add(self, *values):
        """A row of ``fields``' values, already database-ready (see :class:`Values`)."""
        row = [*values, *self.constants]
        self.rows.append(row)
        return row

    def add_instance(self, obj):
        """A row from an unsaved model instance (its pk set from :meth:`pk`)."""
        self.rows.append([convert(getattr(obj, name)) for name, convert in self.converters] + list(self.constants))

    def take(self):
        """The rows added since the last take, as :meth:`put` writes them: CSV text for ``COPY``
        on PostgreSQL, the rows themselves on SQLite. None when there are none."""
        if not self.rows:
            return None
        rows, self.rows = self.rows, []
        self.written += len(rows)
        if self.order is not None:
            rows.sort(key=self.order)
        if not self.values.postgres:
            return rows
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        return text.getvalue()

    def put(self, taken):
        """Write what :meth:`take` gave (here or in another process) on this connection."""
        table = self.model._meta.db_table
        columns = ", ".join(f'"{column}"' for column in self.columns)
        connection.ensure_connection()
        raw = connection.connection  # the driver's: no SQL kept in DEBUG's log for a million rows
        with connection.wrap_database_errors:  # Django's IntegrityError, as from the ORM
            if self.values.postgres:
                with raw.cursor() as cursor:
                    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                                       io.StringIO(taken), size=1 << 20)
            else:
                marks = ", ".join("?" * len(self.columns))
                raw.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", taken)  # noqa: S608

    def flush(self):
        """Write the rows added since the last take now."""
        taken = self.take()
        if taken is not None:
            self.put(taken)


class Parts:
    """Rows built in ``parts`` processes at once and written by this one, on its connection and in
    its transaction: each process builds its share (``build(part, send)``, which calls
    ``send()`` whenever it has rows to hand over, and returns what it has to say at the end), and
    this process writes what they send as it comes (``COPY`` keeps the database busy while they
    build). On two cores the rows are built in about half the time.

    A process is forked (it starts as a copy of this one: the models, the tables' keys, the
    clinics read so far) and never touches the database. ``in_processes=False`` builds the parts
    one after the other here: the same rows, where ``fork`` is not to be had."""

    def __init__(self, tables, parts=2, *, in_processes=True):
        self.tables = tables
        self.parts = parts
        # As multiprocessing does on Linux: a fork even where other threads run (CPython and glibc
        # re-make their own locks in the child; a part takes no lock of this program's).
        self.in_processes = in_processes and "fork" in multiprocessing.get_all_start_methods()

    def run(self, build, progress=None):
        """The parts' returns, in part order; ``progress(n)`` hears of each ``send`` with its
        count. A part's failure is raised here (with the part's traceback) after the others stop."""
        for table in self.tables:
            # Keys are dealt out from the next one; rows already added would go out with every part.
            if table.rows or table.step != 1:
                raise ValueError(f"{table.model.__name__}: write its rows before building in parts")
            table.first_pk = table.next_pk
        if not self.in_processes:
            results, ends = [], []
            for part in range(self.parts):
                for table in self.tables:
                    table.share(part, self.parts)
                with connection.execute_wrapper(_no_queries_in_a_part):  # held to the same rule
                    results.append(build(part, lambda count=0: self._write_here(count, progress)))
                self._write_here(0, None)
                ends.append([table.next_pk for table in self.tables])
            self._after(ends)
            return results
        context = multiprocessing.get_context("fork")
        pipes, workers = [], []
        for part in range(self.parts):
            receiver, sender = context.Pipe(duplex=False)
            worker = context.Process(target=self._work, args=(build, part, sender), daemon=True,
                                     name=f"seed-part-{part}")
            worker.start()
            sender.close()
            pipes.append(receiver)
            workers.append(worker)
        results, ends, finished = [None] * self.parts, [], False
        try:
            waiting = dict(zip(pipes, range(self.parts), strict=True))
            while waiting:
                for pipe in multiprocessing.connection.wait(list(waiting)):
                    try:
                        message = pipe.recv()
                    except (EOFError, OSError):  # the process died, perhaps in the middle of a message
                        part = waiting[pipe]
                        workers[part].join(5)
                        raise RuntimeError(f"seed part {part} ended without a word "
                                           f"(exit code {workers[part].exitcode})") from None
                    kind, body = message
                    if kind == "rows":
                        count, batches = body
                        for index, taken in batches:
                            self.tables[index].put(taken)
                        if progress is not None:
                            progress(count)
                    elif kind == "done":
                        results[waiting.pop(pipe)], next_pks, written = body
                        ends.append(next_pks)
                        for table, count in zip(self.tables, written, strict=True):
                            table.written += count
                    else:
                        raise RuntimeError(f"seed part {waiting[pipe]} failed:\n{body}")
            finished = True
        finally:
            for worker in workers:
                worker.join(30 if finished else 0)  # a part that has said "done" ends by itself
                if worker.is_alive():
                    worker.kill()
                    worker.join()
            for pipe in pipes:
                pipe.close()
        self._after(ends)
        return results

    def _after(self, ends):
        """Keys go on, one by one, past the highest any part gave."""
        for table, next_pks in zip(self.tables, zip(*ends, strict=True), strict=True):
            table.next_pk, table.step = max(next_pks), 1

    def _write_here(self, count, progress):
        for table in self.tables:
            table.flush()
        if progress is not None:
            progress(count)

    def _work(self, build, part, pipe):
        """In the forked process: build, send each batch of rows up the pipe, then the result."""
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a handler inherited from a server
        _cut_off(connection)
        for table in self.tables:
            table.share(part, self.parts)
            table.written = 0  # what this part writes; the parent adds it up

        def send(count=0):
            batches = [(index, taken) for index, table in enumerate(self.tables)
                       if (taken := table.take()) is not None]
            pipe.send(("rows", (count, batches)))

        try:
            result = build(part, send)  # the connection cut off above: a query here is refused
            send()
            pipe.send(("done", (result, [table.next_pk for table in self.tables],
                                [table.written for table in self.tables])))
        except BaseException:  # told to the parent, which raises it  # noqa: BLE001
            pipe.send(("error", traceback.format_exc()))
        finally:
            pipe.close()


# The parent's driver connections a forked part inherited: kept referenced, so that they are never
# closed from the part (closing would end the parent's session).
_INHERITED = []


def _cut_off(wrapper):
    """A forked part's Django connection: its inherited driver connection put aside unused, and
    any attempt to connect or query refused."""
    _INHERITED.append(wrapper.connection)
    wrapper.connection = None

    def refuse(*args, **kwargs):
        raise RuntimeError("a seed part may not use the database (it must build from what was read before)")

    wrapper.connect = wrapper.get_new_connection = refuse


def _no_queries_in_a_part(execute, sql, params, many, context):
    raise RuntimeError(f"a seed part ran a query (it must build from what was read before): {sql[:200]}")


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
