"""Email notifications: decisions mail the asset's creator, @mentions mail the people named who may see the
asset; each user can turn either off. The request only queues the mail (after commit); the outbound worker
sends it, retries a mail server that fails for now, and gives up (logged) on one that refuses for good."""

import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from review.comments import comment_create
from review.decisions import asset_review_decide, asset_review_revoke
from review.models import ReviewEvent
from studio.celery import app
from studio.notifications import mentioned_usernames, notification_preference_update
from studio.tasks import NOTIFICATION_MAX_RETRIES, send_notification
from tests.conftest import checklist_all


class FlakyBackend(LocmemBackend):
    """The test email backend (mail.outbox), raising the errors in ``failures`` first, one per attempt."""

    failures: list[Exception] = []
    attempts = 0

    def send_messages(self, messages):
        FlakyBackend.attempts += 1
        if FlakyBackend.failures:
            raise FlakyBackend.failures.pop(0)
        return super().send_messages(messages)


@pytest.fixture
def flaky_mail(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.failures, FlakyBackend.attempts = [], 0
    return FlakyBackend


@pytest.fixture
def with_email(marketer, reviewer, other_marketer):
    for user in (marketer, reviewer, other_marketer):
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])


@pytest.fixture
def in_review(make_asset, with_email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return make_asset()


@pytest.fixture
def eager_tasks(monkeypatch):
    """Tasks run in this process when queued, retries included (without their countdowns)."""
    monkeypatch.setitem(app.conf, "task_always_eager", True)


@pytest.fixture
def queued(monkeypatch) -> list[tuple]:
    """Messages "sent to the broker" (the task's arguments), for tests that run the task themselves."""
    sent: list[tuple] = []
    monkeypatch.setattr("studio.tasks.send_notification.delay", lambda *args: sent.append(args))
    return sent


def _run(queued: list[tuple]) -> list[str]:
    """What the webhooks worker does with each message: run the task (and its retries) here."""
    return [send_notification.apply(args=args).get() for args in queued]


def _decide(capture, **kwargs):
    with capture(execute=True):
        return asset_review_decide(**kwargs)


def _approve(in_review, reviewer, capture):
    return _decide(capture, asset=in_review, actor=reviewer, decision="approve", checklist=checklist_all())


def test_a_decision_only_queues_its_mail_and_only_after_commit(
    in_review, marketer, reviewer, django_capture_on_commit_callbacks, queued
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        asset_review_decide(asset=in_review, actor=reviewer, decision="approve", checklist=checklist_all())
    assert queued == [] and mail.outbox == []  # nothing before the decision commits
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    event = ReviewEvent.objects.get(asset=in_review, to_state="approved")
    assert queued == [("decision", event.pk, marketer.pk)]  # ids only: JSON, no model objects
    assert mail.outbox == []  # the request sent nothing
    assert _run(queued) == ["sent"]
    [message] = mail.outbox
    assert message.to == ["marketer@example.com"] and message.subject.startswith("Approved:")


def test_notification_mail_goes_to_the_outbound_queue_the_webhooks_worker_consumes():
    assert app.amqp.router.route({}, "studio.send_notification")["queue"].name == "webhooks"
    assert "studio.send_notification" in app.tasks


@pytest.mark.parametrize(
    ("decision", "comment", "subject"),
    [
        ("approve", "", "Approved"),
        ("request_changes", "Make the sky bluer.", "Changes requested"),
        ("reject", "Off brand.", "Rejected"),
    ],
)
def test_a_decision_mails_the_creator(
    in_review, marketer, reviewer, django_capture_on_commit_callbacks, eager_tasks, decision, comment, subject
):
    mail.outbox.clear()
    _decide(
        django_capture_on_commit_callbacks,
        asset=in_review,
        actor=reviewer,
        decision=decision,
        comment=comment,
        checklist=checklist_all(),
    )
    [message] = mail.outbox
    assert message.to == ["marketer@example.com"]
    assert message.subject.startswith(f"{subject}:")
    assert comment in message.body and f"/review/assets/{in_review.pk}/" in message.body
    assert "reviewer decided" in message.body


def test_a_revocation_mails_the_creator(
    in_review, marketer, reviewer, django_capture_on_commit_callbacks, eager_tasks
):
    _approve(in_review, reviewer, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        asset_review_revoke(asset=in_review, actor=reviewer, comment="Licence withdrawn.")
    [message] = mail.outbox
    assert message.subject.startswith("Approval revoked:") and "Licence withdrawn." in message.body


def test_a_creator_who_turned_decisions_off_gets_nothing(
    in_review, marketer, reviewer, django_capture_on_commit_callbacks, queued
):
    notification_preference_update(user=marketer, on_decisions=False, on_mentions=True)
    mail.outbox.clear()
    _approve(in_review, reviewer, django_capture_on_commit_callbacks)
    assert queued == [] and mail.outbox == []


def test_turning_decisions_off_after_the_mail_was_queued_still_stops_it(
    in_review, marketer, reviewer, django_capture_on_commit_callbacks, queued
):
    mail.outbox.clear()
    _approve(in_review, reviewer, django_capture_on_commit_callbacks)
    assert len(queued) == 1
    notification_preference_update(user=marketer, on_decisions=False, on_mentions=True)
    assert _run(queued) == ["skipped"]
    assert mail.outbox == []


def test_a_creator_without_an_address_gets_nothing(
    in_review, marketer, reviewer, django_capture_on_commit_callbacks, queued
):
    marketer.email = ""
    marketer.save(update_fields=["email"])
    mail.outbox.clear()
    _approve(in_review, reviewer, django_capture_on_commit_callbacks)
    assert queued == [] and mail.outbox == []


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),  # socket.timeout
        smtplib.SMTPResponseException(421, b"Service not available, try again later"),
        smtplib.SMTPRecipientsRefused({"marketer@example.com": (450, b"Mailbox busy")}),
    ],
    ids=type,
)
def test_a_mail_server_that_fails_for_now_is_tried_again(
    in_review, reviewer, django_capture_on_commit_callbacks, eager_tasks, flaky_mail, caplog, error
):
    flaky_mail.failures = [error]
    review = _approve(in_review, reviewer, django_capture_on_commit_callbacks)
    assert review.state == "approved"
    assert flaky_mail.attempts == 2
    [message] = mail.outbox
    assert message.to == ["marketer@example.com"]
    assert "retrying in" in caplog.text and "Gave up" not in caplog.text


def test_retries_back_off_and_end_with_a_logged_failure(
    in_review, reviewer, django_capture_on_commit_callbacks, eager_tasks, flaky_mail, caplog
):
    flaky_mail.failures = [ConnectionRefusedError(111, "Connection refused")] * 100
    review = _approve(in_review, reviewer, django_capture_on_commit_callbacks)
    assert review.state == "approved"
    assert flaky_mail.attempts == NOTIFICATION_MAX_RETRIES + 1
    assert mail.outbox == []
    countdowns = [record.args[-1] for record in caplog.records if "retrying in" in record.getMessage()]
    assert len(countdowns) == NOTIFICATION_MAX_RETRIES
    # Full jitter: each wait is at most 30 s doubled per attempt so far, capped at half an hour.
    assert all(0 <= wait <= min(30 * 2**n, 1800) for n, wait in enumerate(countdowns))
    [gave_up] = [record for record in caplog.records if "Gave up" in record.getMessage()]
    assert gave_up.levelname == "ERROR" and gave_up.exc_info


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPRecipientsRefused({"marketer@example.com": (550, b"No such user")}),
        smtplib.SMTPAuthenticationError(535, b"Authentication failed"),
    ],
    ids=type,
)
def test_a_mail_server_that_refuses_for_good_is_logged_and_never_fails_the_decision(
    in_review, reviewer, django_capture_on_commit_callbacks, eager_tasks, flaky_mail, caplog, error
):
    flaky_mail.failures = [error]
    review = _approve(in_review, reviewer, django_capture_on_commit_callbacks)
    assert review.state == "approved"
    assert flaky_mail.attempts == 1  # not retried
    assert mail.outbox == []
    assert "Gave up on the decision mail" in caplog.text


def test_with_the_broker_down_the_mail_is_sent_from_the_request_instead(
    in_review, reviewer, django_capture_on_commit_callbacks, monkeypatch, flaky_mail, caplog
):
    def broker_down(*args):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr("studio.tasks.send_notification.delay", broker_down)
    review = _approve(in_review, reviewer, django_capture_on_commit_callbacks)
    assert review.state == "approved" and len(mail.outbox) == 1
    assert "Could not queue the decision mail" in caplog.text
    # And with the mail server down too, the decision still stands; the mail is logged and lost.
    mail.outbox.clear()
    flaky_mail.failures = [ConnectionRefusedError(111, "Connection refused")]
    with django_capture_on_commit_callbacks(execute=True):
        review = asset_review_revoke(asset=in_review, actor=reviewer, comment="Licence withdrawn.")
    assert review.state == "revoked" and mail.outbox == []
    assert "Could not send the decision mail" in caplog.text


def test_a_mention_mails_who_it_names_if_they_may_see_the_asset(
    in_review, marketer, reviewer, other_marketer, django_capture_on_commit_callbacks, eager_tasks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        comment_create(
            asset=in_review, author=marketer, body="@reviewer can you look? cc @other_marketer and @nobody."
        )
    # other_marketer is in another team: a mention must not show them the asset.
    assert [message.to for message in mail.outbox] == [["reviewer@example.com"]]
    assert (
        "marketer mentioned you" in mail.outbox[0].body and "@reviewer can you look?" in mail.outbox[0].body
    )


def test_a_mention_is_not_mailed_to_who_turned_mentions_off(
    in_review, marketer, reviewer, django_capture_on_commit_callbacks, queued
):
    notification_preference_update(user=reviewer, on_decisions=True, on_mentions=False)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        comment_create(asset=in_review, author=marketer, body="@reviewer please look")
    assert queued == [] and mail.outbox == []


def test_a_mention_is_checked_again_when_sent(
    in_review, marketer, reviewer, django_capture_on_commit_callbacks, queued, default_team
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        comment_create(asset=in_review, author=marketer, body="@reviewer please look")
    [(kind, _comment_id, user_id)] = queued
    assert (kind, user_id) == ("mention", reviewer.pk)
    notification_preference_update(user=reviewer, on_decisions=True, on_mentions=False)
    assert _run(queued) == ["skipped"]
    # Turned back on, but no longer reviewing the team: the asset is out of sight, so is the mail.
    notification_preference_update(user=reviewer, on_decisions=True, on_mentions=True)
    default_team.reviewers.remove(reviewer)
    assert _run(queued) == ["skipped"]
    assert mail.outbox == []


def test_nobody_is_mailed_for_mentioning_themselves(
    in_review, marketer, django_capture_on_commit_callbacks, queued
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        comment_create(asset=in_review, author=marketer, body="note to self, @marketer")
    assert queued == [] and mail.outbox == []


def test_mentions_are_usernames_after_an_at_sign_not_email_addresses():
    assert mentioned_usernames("@ann, ask @bob.smith. Mail me at x@example.com") >= {"ann", "bob.smith"}
    assert "example.com" not in mentioned_usernames("mail x@example.com")


def test_the_settings_page_turns_notifications_off_and_on(client, marketer):
    client.force_login(marketer)
    page = client.get("/settings/").content.decode()
    assert 'id="notifications"' in page and page.count("checked") >= 2
    response = client.post("/settings/notifications/", {"on_mentions": "on"})
    assert response.status_code == 302
    preference = marketer.notification_preference
    assert (preference.on_decisions, preference.on_mentions) == (False, True)
    client.post("/settings/notifications/", {"on_decisions": "on", "on_mentions": "on"})
    preference.refresh_from_db()
    assert (preference.on_decisions, preference.on_mentions) == (True, True)
