from django.contrib.postgres.constraints import ExclusionConstraint


class PostgresExclusionConstraint(ExclusionConstraint):
    """An exclusion constraint that exists on PostgreSQL and emits no SQL elsewhere.

    One migration serves both backends. Off PostgreSQL (the SQLite embedded default) the
    booking service's check runs inside an IMMEDIATE transaction, which serialises it.
    Python-side validation is left to ``Appointment.clean`` so that users read one message
    in clinic words, the same on every backend; the database stays the last guard.
    """

    @staticmethod
    def _on_postgres(schema_editor):
        return schema_editor.connection.vendor == "postgresql"

    def constraint_sql(self, model, schema_editor):
        return super().constraint_sql(model, schema_editor) if self._on_postgres(schema_editor) else None

    def create_sql(self, model, schema_editor):
        return super().create_sql(model, schema_editor) if self._on_postgres(schema_editor) else None

    def remove_sql(self, model, schema_editor):
        return super().remove_sql(model, schema_editor) if self._on_postgres(schema_editor) else None

    def validate(self, *args, **kwargs):
        return None
