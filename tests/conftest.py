"""Shared fixtures. `make test` runs the suite twice: on the embedded defaults (SQLite, filesystem broker)
and against the real PostgreSQL and Redis on 127.0.0.1 (STUDIO_TEST_PASS=services)."""

import io
import os

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from PIL import Image

from studio.roles import ADMINS, MARKETERS, REVIEWERS, sync_groups
from tests.service_probe import services_unavailable_reason


def pytest_runtest_setup(item) -> None:
    if "services" not in item.keywords:
        return
    reason = services_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("STUDIO_REQUIRE_SERVICES") == "1" and os.environ.get("STUDIO_TEST_PASS") == "services":
        pytest.fail(f"STUDIO_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """Each test starts with no counters in the cache (the delivery render rate counts per client) and no
    delivery paths remembered by this process."""
    from django.core.cache import cache

    from delivery.services import hit_cache

    cache.clear()
    hit_cache.clear()


@pytest.fixture(autouse=True)
def offer_test_models(settings) -> None:
    """Offer the test-only `tiny` model in forms, as STUDIO_TEST_MODELS=1 does; users never see it."""
    settings.STUDIO_TEST_MODELS = True


@pytest.fixture
def no_enqueue(monkeypatch) -> None:
    """Generation requests are stored but never sent to a worker: nothing runs unless the test runs it."""
    monkeypatch.setattr("generation.tasks.run_generation_request.delay", lambda _id: None)


@pytest.fixture(scope="session")
def tiny_model_dir() -> str:
    """The tiny random-weight pipeline the `tiny` registry entry points at, built once per run."""
    from django.core.management import call_command

    target = settings.STUDIO_MODEL_DIR / "tiny"
    call_command("build_tiny_model", out=str(target), verbosity=0)
    return str(target)


def _user(username: str, group: str, **extra):
    sync_groups()
    user = get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)
    user.groups.add(Group.objects.get(name=group))
    return user


def _team(name: str):
    from studio.models import Team

    team, _ = Team.objects.get_or_create(slug=name.lower(), defaults={"name": name})
    return team


@pytest.fixture
def default_team(db):
    """The team `marketer` works in and `reviewer` and `second_reviewer` review ("Brand")."""
    return _team("Brand")


@pytest.fixture
def other_team(db):
    """A second team ("Retail"): its people must not see the default team's work, nor it theirs."""
    return _team("Retail")


@pytest.fixture
def marketer(db, default_team):
    user = _user("marketer", MARKETERS)
    default_team.members.add(user)
    return user


@pytest.fixture
def reviewer(db, default_team):
    user = _user("reviewer", REVIEWERS)
    default_team.reviewers.add(user)
    return user


@pytest.fixture
def second_reviewer(db, default_team):
    user = _user("reviewer2", REVIEWERS)
    default_team.reviewers.add(user)
    return user


@pytest.fixture
def other_marketer(db, other_team):
    """A marketer of another team."""
    user = _user("other_marketer", MARKETERS)
    other_team.members.add(user)
    return user


@pytest.fixture
def other_reviewer(db, other_team):
    """A reviewer assigned to another team only."""
    user = _user("other_reviewer", REVIEWERS)
    other_team.reviewers.add(user)
    return user


@pytest.fixture
def admin_user(db):
    return _user("boss", ADMINS, is_staff=True, is_superuser=True)


def png_bytes(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def channel_presets(db) -> None:
    """The presets the delivery migration installs; transactional tests flush them, so put them back."""
    import importlib

    from django.apps import apps

    importlib.import_module("delivery.migrations.0002_channel_presets").add_presets(apps, None)


@pytest.fixture
def make_asset(db, marketer):
    """Create a generated asset with a real PNG in storage, as the worker would."""
    from generation.models import GenerationRequest
    from generation.services import generation_request_complete

    def make(
        *, user=None, prompt: str = "a red apple on a blue background", size=(96, 64), image=None, flags=()
    ):
        owner = user or marketer
        request = GenerationRequest.objects.create(
            created_by=owner,
            team=owner.teams.order_by("name").first(),  # as generation_request_create does
            prompt=prompt,
            full_prompt=prompt,
            model_key="tiny",
            width=size[0],
            height=size[1],
            seed=7,
            steps=2,
            guidance=5.0,
            status=GenerationRequest.Status.RUNNING,
            moderation_flags=list(flags),  # as moderation would: the asset carries them into review
        )
        if image is None:
            image = Image.new("RGB", size, (200, 40, 40))
        [asset] = generation_request_complete(generation_request=request, images=[image], seeds=[7])
        return asset

    return make


def checklist_all() -> list[int]:
    """The ids of every enabled review checklist item: what a reviewer ticks to approve."""
    from review.models import ChecklistItem

    return list(ChecklistItem.objects.filter(enabled=True).values_list("pk", flat=True))


@pytest.fixture
def approved(make_asset, reviewer, channel_presets, django_capture_on_commit_callbacks):
    """An approved 256x192 generated asset and its public id."""
    from review.decisions import asset_review_decide

    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset(size=(256, 192))
    with django_capture_on_commit_callbacks(execute=True):
        review = asset_review_decide(
            asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()
        )
    return asset, review.public_id


def database_url_for_subprocess() -> str:
    """A DATABASE_URL that points a child process (a Celery worker) at the test database."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    user = settings_dict.get("USER") or "postgres"
    password = settings_dict.get("PASSWORD") or ""
    credentials = f"{user}:{password}@" if password else f"{user}@"
    return f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"


def worker_env(media_root) -> dict[str, str]:
    """The environment that points a worker process at this test's database, broker, media and models."""
    return {
        "DATABASE_URL": database_url_for_subprocess(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "STUDIO_VAR_DIR": str(settings.VAR_DIR),
        "STUDIO_MEDIA_ROOT": str(media_root),
        "STUDIO_TORCH_THREADS": "1",
        "STUDIO_TEST_MODELS": "1",
    }


@pytest.fixture
def celery_worker_process(transactional_db, tiny_model_dir, media_root):
    """A real Celery worker in its own process, on this pass's broker and the test database."""
    from studio.celery import app
    from tests.workers import Worker

    app.control.purge()  # messages left by an earlier run must not reach this worker
    worker = Worker(env=worker_env(media_root), log_path=media_root.parent / "worker.log").start()
    try:
        yield worker.process
    finally:
        worker.stop()
        print(worker.log_tail())


def wait_for(predicate, *, timeout: float = 120.0, interval: float = 0.25):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:.0f}s")
