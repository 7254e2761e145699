"""PostgreSQL only: the pg_trgm extension the patient search (patients/search.py) uses to find
names typed with a typo, and trigram indexes that serve its name searches (UPPER(...) LIKE, as
Django writes icontains). SQLite has neither and migrates past this without a change."""

from django.db import migrations

FORWARD = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    'CREATE INDEX IF NOT EXISTS patient_first_name_trgm ON patients_patient USING gin (UPPER("first_name"::text) gin_trgm_ops)',
    'CREATE INDEX IF NOT EXISTS patient_last_name_trgm ON patients_patient USING gin (UPPER("last_name"::text) gin_trgm_ops)',
)
# The extension stays: other database objects may come to use it.
BACKWARD = (
    "DROP INDEX IF EXISTS patient_first_name_trgm",
    "DROP INDEX IF EXISTS patient_last_name_trgm",
)


def run(statements):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return operation


class Migration(migrations.Migration):
    dependencies = [("patients", "0012_course_end_reason")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
