"""Configuration from the environment: embedded defaults, real services when set, loud production failures."""

import json
import os
import secrets
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
        ({"STUDIO_API_RATE": "lots"}, "STUDIO_API_RATE: 'lots' is not a rate"),
        ({"STUDIO_DELIVERY_RENDER_RATE": "5/fortnight"}, "STUDIO_DELIVERY_RENDER_RATE: '5/fortnight' is not"),
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


SHOW_SECRET = """
import django
django.setup()
from django.conf import settings
print(settings.SECRET_KEY)
print(settings.STUDIO_DELIVERY_KEYS[0])
"""


def _secret_in_subprocess(var_dir, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STUDIO_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-c", SHOW_SECRET],
        env={**clean, "DJANGO_SETTINGS_MODULE": "studio.settings", "STUDIO_VAR_DIR": str(var_dir), **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_secret_key_one_random_key_is_made_per_var_dir_and_kept(tmp_path):
    first = _secret_in_subprocess(tmp_path / "one")
    again = _secret_in_subprocess(tmp_path / "one")
    elsewhere = _secret_in_subprocess(tmp_path / "two")
    for result in (first, again, elsewhere):
        assert result.returncode == 0, result.stderr

    key, delivery_key = first.stdout.split()
    assert len(key) >= 50
    assert "insecure" not in key
    assert delivery_key == f"delivery:{key}", "the delivery signing key is derived from the secret one"
    assert again.stdout == first.stdout
    assert elsewhere.stdout.split()[0] != key
    key_file = tmp_path / "one" / "secret_key"
    assert key_file.read_text().strip() == key
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_processes_starting_together_agree_on_the_new_key(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STUDIO_", "DJANGO_"))}
    env = {**clean, "DJANGO_SETTINGS_MODULE": "studio.settings", "STUDIO_VAR_DIR": str(tmp_path)}
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", SHOW_SECRET],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    keys = {start.communicate(timeout=60)[0].split()[0] for start in starts}
    assert len(keys) == 1
    assert [path.name for path in tmp_path.iterdir() if "secret" in path.name] == ["secret_key"]


def test_a_secret_key_from_the_environment_is_used_and_nothing_is_written(tmp_path):
    result = _secret_in_subprocess(tmp_path, DJANGO_SECRET_KEY="k" * 40)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "k" * 40
    assert not (tmp_path / "secret_key").exists()


def test_production_never_makes_up_a_secret_key(tmp_path):
    result = _secret_in_subprocess(tmp_path, STUDIO_PRODUCTION="1", DJANGO_ALLOWED_HOSTS="studio.example.com")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_debug_is_off_unless_asked_for():
    show_debug = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STUDIO_", "DJANGO_"))}
    env = {**clean, "DJANGO_SETTINGS_MODULE": "studio.settings", "STUDIO_VAR_DIR": str(settings.VAR_DIR)}

    def debug(**extra: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", show_debug],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert debug() == "False"
    assert debug(DJANGO_DEBUG="1") == "True"


def test_production_settings_pass_the_deploy_checks(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "STUDIO_", "DJANGO_"))}
    env = {
        **clean,
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "STUDIO_VAR_DIR": str(tmp_path),
        "STUDIO_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "studio.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
