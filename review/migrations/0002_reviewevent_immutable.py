"""Review events are an audit log: make the database refuse to change or delete them.

PostgreSQL: a BEFORE UPDATE OR DELETE trigger raises (SQLSTATE 23000, so Django sees an IntegrityError).
TRUNCATE fires no row triggers, so test flushes (which TRUNCATE on PostgreSQL) still work.

SQLite: only UPDATE is refused. Django flushes SQLite tables with a plain DELETE (transactional tests,
``manage.py flush``), and a trigger cannot tell a flush from any other delete, so a BEFORE DELETE trigger
would break them. Deletes are still refused by ``ReviewEvent.delete()``, the admin, and the foreign keys,
which now PROTECT rather than CASCADE. SQLite is the single-machine default; production runs PostgreSQL.

SQLite drops a table's triggers when Django rebuilds the table, which it does for most later AlterField /
AddField operations on ReviewEvent: such a migration must recreate the trigger (tests/review catches it).
"""

from django.db import migrations, models

TABLE = "review_reviewevent"
MESSAGE = "review events are immutable"

POSTGRESQL_CREATE = [
    f"""
    CREATE FUNCTION review_reviewevent_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP USING ERRCODE = 'integrity_constraint_violation';
    END;
    $$
    """,
    f"""
    CREATE TRIGGER review_reviewevent_immutable BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION review_reviewevent_immutable()
    """,
]
POSTGRESQL_DROP = [
    f"DROP TRIGGER IF EXISTS review_reviewevent_immutable ON {TABLE}",
    "DROP FUNCTION IF EXISTS review_reviewevent_immutable()",
]
SQLITE_CREATE = [
    f"""
    CREATE TRIGGER review_reviewevent_no_update BEFORE UPDATE ON {TABLE}
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused');
    END
    """,
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS review_reviewevent_no_update"]


def _run(schema_editor, statements_by_vendor: dict[str, list[str]]) -> None:
    # Other backends get no trigger: the model, the admin and the PROTECT foreign keys still refuse changes.
    for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


def create_triggers(apps, schema_editor) -> None:
    _run(schema_editor, {"postgresql": POSTGRESQL_CREATE, "sqlite": SQLITE_CREATE})


def drop_triggers(apps, schema_editor) -> None:
    _run(schema_editor, {"postgresql": POSTGRESQL_DROP, "sqlite": SQLITE_DROP})


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0001_initial"),
        ("review", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reviewevent",
            name="asset",
            field=models.ForeignKey(
                on_delete=models.PROTECT, related_name="review_events", to="generation.asset"
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers, elidable=False),
    ]
