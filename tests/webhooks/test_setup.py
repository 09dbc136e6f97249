"""How webhooks are wired in: the worker run_studio starts, the queue route, the admins, the checks."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from studio.celery import app
from studio.roles import ADMINS, sync_groups
from studio.webhooks.checks import check_webhook_settings
from studio.webhooks.sweeper import consumes_webhooks_queue


class _FinishedProcess:
    def __init__(self, command, **_kwargs) -> None:
        self.command = command

    def poll(self) -> int:
        return 0

    def wait(self, timeout=None) -> int:
        return 0


def test_run_studio_starts_a_thread_pool_worker_for_the_webhooks_queue(monkeypatch):
    started: list[list[str]] = []

    def popen(command, **kwargs):
        started.append(command)
        return _FinishedProcess(command)

    monkeypatch.setattr("subprocess.Popen", popen)
    monkeypatch.setattr("signal.signal", lambda *_args: None)  # leave this process's handlers alone
    call_command("run_studio")
    [webhooks] = [c for c in started if "webhooks" in c]
    assert webhooks[webhooks.index("-P") + 1] == "threads"
    assert webhooks[webhooks.index("-Q") + 1] == "webhooks"
    [generation] = [c for c in started if "prefork" in c]
    assert "-Q" not in generation  # the default queue only: generation jobs


def test_webhook_messages_are_routed_to_their_own_queue():
    assert app.amqp.router.route({}, "webhooks.deliver")["queue"].name == "webhooks"
    assert app.amqp.router.route({}, "generation.run_generation_request")["queue"].name == "celery"


def test_the_sweeper_runs_only_in_workers_of_the_webhooks_queue():
    class Queue:
        def __init__(self, name: str) -> None:
            self.name = name

    class Consumer:
        def __init__(self, *names: str) -> None:
            self.task_consumer = type("TaskConsumer", (), {"queues": [Queue(n) for n in names]})()

    assert consumes_webhooks_queue(Consumer("webhooks"))
    assert not consumes_webhooks_queue(Consumer("celery"))
    assert not consumes_webhooks_queue(None)


@pytest.mark.django_db
def test_members_of_the_admins_group_manage_webhooks(client, django_user_model):
    sync_groups()
    admin = django_user_model.objects.create_user(username="ops", password="pw-ops", is_staff=True)
    admin.groups.add(Group.objects.get(name=ADMINS))
    client.force_login(admin)
    assert client.get(reverse("admin:webhooks_webhookendpoint_add")).status_code == 200
    assert client.get(reverse("admin:webhooks_webhookdelivery_changelist")).status_code == 200
    assert admin.has_perm("webhooks.resend_webhookdelivery")


def test_production_warns_about_a_site_url_without_a_host_and_private_receivers(settings):
    settings.PRODUCTION = True
    settings.STUDIO_SITE_URL = "https://*"  # DJANGO_ALLOWED_HOSTS=* and no STUDIO_SITE_URL
    settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE = True
    assert [m.id for m in check_webhook_settings()] == ["webhooks.W001", "webhooks.W002"]
    settings.STUDIO_SITE_URL = "https://studio.example.com"
    settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE = False
    assert check_webhook_settings() == []
