"""Configuration from the environment: embedded defaults, real services when set, loud production failures."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "storage": settings.STORAGES["default"]["BACKEND"],
    "bucket": settings.STORAGES["default"].get("OPTIONS", {}).get("bucket_name"),
    "broker": settings.CELERY_BROKER_URL,
    "default_model": settings.STUDIO_DEFAULT_MODEL,
    "test_models": settings.STUDIO_TEST_MODELS,
}))
"""


def _settings_in_subprocess(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "CELERY_", "STUDIO_", "DJANGO_"))
    }
    clean["DJANGO_SETTINGS_MODULE"] = "studio.settings"
    clean["STUDIO_VAR_DIR"] = str(settings.VAR_DIR)
    return subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS],
        env={**clean, **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_embedded_defaults_are_sqlite_filesystem_broker_and_local_files():
    result = _settings_in_subprocess()
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["broker"] == "filesystem://"
    assert shown["storage"] == "django.core.files.storage.FileSystemStorage"
    assert shown["default_model"] == "default"
    assert shown["test_models"] is False, "the tiny random-weight model is for the test suite only"


def test_environment_switches_to_postgresql_redis_and_s3():
    result = _settings_in_subprocess(
        DATABASE_URL="postgres://u@db.example:5432/studio",
        CELERY_BROKER_URL="redis://cache.example:6379/0",
        STUDIO_STORAGE="s3",
        AWS_STORAGE_BUCKET_NAME="studio-media",
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["engine"] == "django.db.backends.postgresql"
    assert shown["broker"] == "redis://cache.example:6379/0"
    assert shown["storage"] == "storages.backends.s3.S3Storage"
    assert shown["bucket"] == "studio-media"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STUDIO_PRODUCTION": "1", "DJANGO_ALLOWED_HOSTS": "studio.example"}, "DJANGO_SECRET_KEY"),
        ({"STUDIO_PRODUCTION": "1", "DJANGO_SECRET_KEY": "x" * 50}, "DJANGO_ALLOWED_HOSTS"),
        (
            {"STUDIO_PRODUCTION": "1", "DJANGO_SECRET_KEY": "short", "DJANGO_ALLOWED_HOSTS": "a"},
            "32 characters",
        ),
        ({"STUDIO_STORAGE": "s3"}, "AWS_STORAGE_BUCKET_NAME"),
        ({"STUDIO_STORAGE": "ftp"}, "STUDIO_STORAGE"),
        ({"STUDIO_DELIVERY_STRICT": "maybe"}, "STUDIO_DELIVERY_STRICT"),
        ({"STUDIO_DEFAULT_MODEL": "nope"}, "not in the model registry"),
        ({"STUDIO_DEFAULT_MODEL": "tiny"}, "test-only model; set STUDIO_TEST_MODELS=1"),
    ],
)
def test_misconfiguration_refuses_to_start_with_the_reason(env, message):
    result = _settings_in_subprocess(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


@pytest.mark.django_db
def test_embedded_sqlite_runs_in_wal_mode():
    if connection.vendor != "sqlite":
        pytest.skip("the services pass runs on PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
