"""Trigram indexes for the review queue's search, on PostgreSQL only.

The queue's ``q`` finds each word anywhere in an asset's title, its request's prompt, a review event's comment
or a thread comment (``icontains``). Django writes that as ``UPPER(col::text) LIKE UPPER('%word%')``, which
no B-tree can serve; a GIN index of pg_trgm trigrams over the same expression can, so a search reads the
matching rows instead of every row of four tables.

Two of the indexes are on generation's tables (asset title, request prompt): they are here because the
queue's search is what they serve, and they come and go with it. The models are unchanged: the indexes are
expressions with a PostgreSQL operator class, which SQLite has no equivalent of (there the search scans, which
is fast enough at Studio's sizes on one machine).

Without the pg_trgm extension (a role that may not create it, a server without contrib), nothing is created
and the migration still succeeds: the search is then correct, only slower.
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

# (index name, table, column): each an index of UPPER(column::text), the expression icontains filters on.
SEARCH_INDEXES = (
    ("queue_search_asset_title_trgm", "generation_asset", "title"),
    ("queue_search_prompt_trgm", "generation_generationrequest", "prompt"),
    ("queue_search_event_comment_trgm", "review_reviewevent", "comment"),
    ("queue_search_comment_body_trgm", "review_comment", "body"),
    ("queue_channel_trgm", "generation_asset", "channels"),
)


def create_search_indexes(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        # A savepoint: a refused CREATE EXTENSION must not abort the migration's transaction.
        with transaction.atomic(using=connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as error:
        logger.warning("pg_trgm unavailable (%s): the review queue's search will scan without indexes", error)
        return
    # fastupdate off: rows go straight into the index as they are written (one at a time, by workers and
    # reviewers), so a search never has to read a backlog of unmerged rows that only VACUUM would clear.
    quote = schema_editor.quote_name
    for name, table, column in SEARCH_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} "
            f"USING gin ((UPPER({quote(column)}::text)) gin_trgm_ops) WITH (fastupdate = off)"
        )


def drop_search_indexes(apps, schema_editor) -> None:
    # The extension stays: other indexes or queries may use it, and it costs nothing unused.
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in SEARCH_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0007_queue_indexes"),
        ("generation", "0008_asset_team"),
    ]

    operations = [
        migrations.RunPython(create_search_indexes, drop_search_indexes, elidable=False),
    ]
