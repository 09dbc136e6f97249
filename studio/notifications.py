"""Email notifications: a decision on someone's asset, and an @mention in a comment.

Review's after-commit signals queue one ``studio.send_notification`` task per recipient (studio/tasks.py) on
the outbound ``webhooks`` queue, so a slow or absent mail server never holds up the decision or comment. The
worker sends through Django's email backend (the console unless SMTP is configured: studio/settings.py, Email)
and retries transient SMTP failures with backoff; a mail that still cannot be sent is logged and dropped. Each
user turns either kind off on the Settings page.

Who may be mailed (active, with an address, not opted out, allowed to see the asset) is checked twice: when
queueing, so nobody's task is queued for nothing, and again when sending, because the mail may go out minutes
later after retries, and an opt-out, a deactivation or a lost team membership in between must win. The task
carries ids only; the mail is written at send time from the immutable review event or the comment.
"""

import logging
import re
import smtplib
from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from generation import selectors as generation_selectors
from generation.models import Asset
from review.models import Comment, ReviewEvent, ReviewState
from studio.models import NotificationPreference

logger = logging.getLogger(__name__)

# The decisions a creator hears about, and how the subject line puts each.
DECISION_SUBJECTS: dict[str, str] = {
    ReviewState.APPROVED: "Approved",
    ReviewState.CHANGES_REQUESTED: "Changes requested",
    ReviewState.REJECTED: "Rejected",
    ReviewState.REVOKED: "Approval revoked",
}

# What a notification task is about: "decision" carries a ReviewEvent's id, "mention" a Comment's.
DECISION, MENTION = "decision", "mention"
_PREFERENCE_FIELD = {DECISION: "on_decisions", MENTION: "on_mentions"}

# @username, as Django's usernames allow (letters, digits and @.+-_), not inside a word or an email address.
_MENTION = re.compile(r"(?<![\w@.+-])@([\w.@+-]+)")


def notification_preference_of(*, user: User) -> NotificationPreference:
    """The user's preferences; unsaved defaults (everything on) when they never changed them."""
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(user=user)


def notification_preference_update(
    *, user: User, on_decisions: bool, on_mentions: bool
) -> NotificationPreference:
    preference, _ = NotificationPreference.objects.update_or_create(
        user=user, defaults={"on_decisions": on_decisions, "on_mentions": on_mentions}
    )
    return preference


def mentioned_usernames(text: str) -> set[str]:
    """The usernames ``text`` @mentions; a trailing full stop or dash belongs to the sentence, so both
    readings are kept and only existing users match."""
    names: set[str] = set()
    for match in _MENTION.finditer(text):
        name = match.group(1)
        names.add(name)
        names.add(name.rstrip(".-+@"))
    names.discard("")
    return names


def _wants(users: Iterable[User], field: str, *, asset_id: int) -> list[User]:
    """Those of ``users`` who have an email address, did not turn ``field`` off and may see the asset (a
    mail must not show someone an asset, or its comments, they may not see)."""
    users = [user for user in users if user.is_active and user.email]
    off = set(
        NotificationPreference.objects.filter(user__in=users, **{field: False}).values_list(
            "user_id", flat=True
        )
    )
    return [
        user
        for user in users
        if user.pk not in off
        and generation_selectors.asset_get_visible(user=user, asset_id=asset_id) is not None
    ]


def _asset_url(asset: Asset) -> str:
    return settings.STUDIO_SITE_URL.rstrip("/") + reverse("review:asset", args=[asset.pk])


def _asset_name(asset: Asset) -> str:
    return asset.title or f"asset {asset.pk}"


# --- Queueing (in the web request, after commit) ----------------------------------------------------------


def notify_decision(*, asset: Asset, to_state: str) -> bool:
    """Queue a mail to the asset's creator about a decision on it (not one they made themselves). True if
    queued."""
    if to_state not in DECISION_SUBJECTS:
        return False
    event = (
        ReviewEvent.objects.filter(asset=asset, kind=ReviewEvent.Kind.DECISION, to_state=to_state)
        .order_by("-created_at", "-pk")
        .first()
    )
    creator = get_user_model().objects.filter(pk=asset.created_by_id).first()
    if event is None or creator is None or event.actor_id == creator.pk:
        return False
    if not _wants([creator], "on_decisions", asset_id=asset.pk):
        return False
    _enqueue_on_commit(kind=DECISION, about_id=event.pk, user_id=creator.pk)
    return True


def notify_mentions(*, comment: Comment) -> list[User]:
    """Queue a mail to each user the comment @mentions who may see its asset (never the author). A decision's
    comment does not mail the asset's creator twice: the decision email carries it. Returns who was queued."""
    names = mentioned_usernames(comment.body)
    if not names:
        return []
    users = get_user_model().objects.filter(username__in=names).exclude(pk=comment.author_id)
    if comment.event_id is not None:
        users = users.exclude(pk=comment.asset.created_by_id)
    wanted = _wants(users, "on_mentions", asset_id=comment.asset_id)
    for user in wanted:
        _enqueue_on_commit(kind=MENTION, about_id=comment.pk, user_id=user.pk)
    return wanted


def _enqueue_on_commit(*, kind: str, about_id: int, user_id: int) -> None:
    # Review's signals fire after commit already; on_commit keeps a message from racing a transaction
    # should one ever be open here (the worker would not see the rows yet).
    transaction.on_commit(partial(_enqueue, kind=kind, about_id=about_id, user_id=user_id))


def _enqueue(*, kind: str, about_id: int, user_id: int) -> None:
    from studio.tasks import send_notification

    try:
        send_notification.delay(kind, about_id, user_id)
    except Exception:  # the broker is down: send in this process rather than not at all
        logger.warning(
            "Could not queue the %s mail for user %s; sending it now", kind, user_id, exc_info=True
        )
        try:
            notification_send(kind=kind, about_id=about_id, user_id=user_id)
        except OSError:
            logger.exception("Could not send the %s mail about %s to user %s", kind, about_id, user_id)


# --- Sending (in the webhooks worker: studio/tasks.py) ----------------------------------------------------


def notification_send(*, kind: str, about_id: int, user_id: int) -> bool:
    """Write and send one notification, if its recipient still wants it and may see the asset. True if sent;
    the email backend's errors (smtplib's, refused connections, timeouts: all OSError) propagate, for the task
    to retry."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return False
    if kind == DECISION:
        event = ReviewEvent.objects.select_related("asset", "actor").filter(pk=about_id).first()
        if event is None:
            return False
        message, asset_id = _decision_message(event), event.asset_id
    elif kind == MENTION:
        comment = Comment.objects.select_related("asset", "author").filter(pk=about_id).first()
        if comment is None:
            return False
        message, asset_id = _mention_message(comment), comment.asset_id
    else:
        raise ValueError(f"Unknown notification kind {kind!r}")
    if message is None or not _wants([user], _PREFERENCE_FIELD[kind], asset_id=asset_id):
        return False
    subject, body = message
    send_mail(subject, body, None, [user.email])
    return True


def _decision_message(event: ReviewEvent) -> tuple[str, str] | None:
    subject_word = DECISION_SUBJECTS.get(event.to_state)
    if subject_word is None:
        return None
    asset = event.asset
    lines = [
        f"{event.actor.get_username()} decided on {_asset_name(asset)}: {subject_word.lower()}.",
        "",
    ]
    if event.comment:
        lines += [event.comment, ""]
    lines += [
        f"Open it: {_asset_url(asset)}",
        "",
        "You get this because you made the asset; turn these emails off on your Settings page.",
    ]
    return f"{subject_word}: {_asset_name(asset)}", "\n".join(lines)


def _mention_message(comment: Comment) -> tuple[str, str]:
    asset, author = comment.asset, comment.author.get_username()
    body = "\n".join(
        [
            f"{author} mentioned you in a comment on {_asset_name(asset)}:",
            "",
            comment.body,
            "",
            f"Open it: {_asset_url(asset)}",
            "",
            "Turn these emails off on your Settings page.",
        ]
    )
    return f"{author} mentioned you: {_asset_name(asset)}", body


def is_transient(error: OSError) -> bool:
    """Worth trying again later: dropped or refused connections, timeouts and 4xx replies. A 5xx reply (an
    address the server refuses, failed authentication) or a server without a needed extension is not."""
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return False
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(not 500 <= code < 600 for code, _message in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return not 500 <= error.smtp_code < 600
    return True


# --- Signal receivers -------------------------------------------------------------------------------------


def on_asset_review_changed(sender, *, asset: Asset, to_state: str, **kwargs) -> None:
    try:
        notify_decision(asset=asset, to_state=to_state)
    except Exception:  # a notification must never break the decision's response (it has committed already)
        logger.exception("Decision notification for asset %s failed", asset.pk)


def on_comment_posted(sender, *, comment: Comment, **kwargs) -> None:
    try:
        notify_mentions(comment=comment)
    except Exception:
        logger.exception("Mention notifications for comment %s failed", comment.pk)
