"""Email notifications: decisions mail the asset's creator, @mentions mail the people named who may see the
asset; each user can turn either off, and a mail server that fails never fails the decision."""

import pytest
from django.core import mail

from review.services import asset_review_decide, asset_review_revoke, comment_create
from studio.notifications import mentioned_usernames, notification_preference_update
from tests.conftest import checklist_all


@pytest.fixture
def with_email(marketer, reviewer, other_marketer):
    for user in (marketer, reviewer, other_marketer):
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])


@pytest.fixture
def in_review(make_asset, with_email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return make_asset()


def _decide(capture, **kwargs):
    with capture(execute=True):
        return asset_review_decide(**kwargs)


@pytest.mark.parametrize(
    ("decision", "comment", "subject"),
    [
        ("approve", "", "Approved"),
        ("request_changes", "Make the sky bluer.", "Changes requested"),
        ("reject", "Off brand.", "Rejected"),
    ],
)
def test_a_decision_mails_the_creator(
    in_review, marketer, reviewer, django_capture_on_commit_callbacks, decision, comment, subject
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


def test_a_revocation_mails_the_creator(in_review, marketer, reviewer, django_capture_on_commit_callbacks):
    _decide(
        django_capture_on_commit_callbacks,
        asset=in_review,
        actor=reviewer,
        decision="approve",
        checklist=checklist_all(),
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        asset_review_revoke(asset=in_review, actor=reviewer, comment="Licence withdrawn.")
    [message] = mail.outbox
    assert message.subject.startswith("Approval revoked:") and "Licence withdrawn." in message.body


def test_a_creator_who_turned_decisions_off_gets_nothing(
    in_review, marketer, reviewer, django_capture_on_commit_callbacks
):
    notification_preference_update(user=marketer, on_decisions=False, on_mentions=True)
    mail.outbox.clear()
    _decide(
        django_capture_on_commit_callbacks,
        asset=in_review,
        actor=reviewer,
        decision="approve",
        checklist=checklist_all(),
    )
    assert mail.outbox == []


def test_a_creator_without_an_address_gets_nothing(
    in_review, marketer, reviewer, django_capture_on_commit_callbacks
):
    marketer.email = ""
    marketer.save(update_fields=["email"])
    mail.outbox.clear()
    _decide(
        django_capture_on_commit_callbacks,
        asset=in_review,
        actor=reviewer,
        decision="approve",
        checklist=checklist_all(),
    )
    assert mail.outbox == []


def test_a_mail_server_that_fails_does_not_fail_the_decision(
    in_review, reviewer, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no SMTP server")

    monkeypatch.setattr("studio.notifications.send_mail", refuse)
    review = _decide(
        django_capture_on_commit_callbacks,
        asset=in_review,
        actor=reviewer,
        decision="approve",
        checklist=checklist_all(),
    )
    assert review.state == "approved"
    assert "Could not send" in caplog.text


def test_a_mention_mails_who_it_names_if_they_may_see_the_asset(
    in_review, marketer, reviewer, other_marketer, django_capture_on_commit_callbacks
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
    in_review, marketer, reviewer, django_capture_on_commit_callbacks
):
    notification_preference_update(user=reviewer, on_decisions=True, on_mentions=False)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        comment_create(asset=in_review, author=marketer, body="@reviewer please look")
    assert mail.outbox == []


def test_nobody_is_mailed_for_mentioning_themselves(in_review, marketer, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        comment_create(asset=in_review, author=marketer, body="note to self, @marketer")
    assert mail.outbox == []


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
