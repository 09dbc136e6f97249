"""Email notifications: a decision on someone's asset, and an @mention in a comment.

Both are sent from review's after-commit signals, through Django's email backend (the console unless SMTP is
configured: studio/settings.py, Email). A mail that cannot be sent is logged and dropped: it never fails or
undoes the decision or comment that caused it. Each user turns either kind off on the Settings page.
"""

import logging
import re
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.urls import reverse

from generation import selectors as generation_selectors
from generation.models import Asset
from review.models import Comment, ReviewEvent, ReviewState
from studio.models import NotificationPreference

logger = logging.getLogger(__name__)

# The decisions a creator hears about, and how the subject line puts each.
DECISION_SUBJECTS = {
    ReviewState.APPROVED: "Approved",
    ReviewState.CHANGES_REQUESTED: "Changes requested",
    ReviewState.REJECTED: "Rejected",
    ReviewState.REVOKED: "Approval revoked",
}

# @username, as Django's usernames allow (letters, digits and @.+-_), not inside a word or an email address.
_MENTION = re.compile(r"(?<![\w@.+-])@([\w.@+-]+)")


def notification_preference_of(*, user: AbstractBaseUser) -> NotificationPreference:
    """The user's preferences; unsaved defaults (everything on) when they never changed them."""
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(user=user)


def notification_preference_update(
    *, user: AbstractBaseUser, on_decisions: bool, on_mentions: bool
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


def _wants(users: Iterable[AbstractBaseUser], field: str) -> list[AbstractBaseUser]:
    """Those of ``users`` who have an email address and did not turn ``field`` off."""
    users = [user for user in users if user.is_active and user.email]
    off = set(
        NotificationPreference.objects.filter(user__in=users, **{field: False}).values_list(
            "user_id", flat=True
        )
    )
    return [user for user in users if user.pk not in off]


def _asset_url(asset: Asset) -> str:
    return settings.STUDIO_SITE_URL.rstrip("/") + reverse("review:asset", args=[asset.pk])


def _asset_name(asset: Asset) -> str:
    return asset.title or f"asset {asset.pk}"


def _send(*, subject: str, body: str, to: AbstractBaseUser) -> bool:
    try:
        send_mail(subject, body, None, [to.email])
    except OSError:  # smtplib's errors, refused connections and timeouts
        logger.warning("Could not send %r to user %s", subject, to.pk, exc_info=True)
        return False
    return True


def notify_decision(*, asset: Asset, to_state: str) -> bool:
    """Tell the asset's creator about a decision on it (not one they made themselves). True if mailed."""
    subject_word = DECISION_SUBJECTS.get(to_state)
    if subject_word is None:
        return False
    event = (
        ReviewEvent.objects.filter(asset=asset, kind=ReviewEvent.Kind.DECISION, to_state=to_state)
        .select_related("actor")
        .order_by("-created_at", "-pk")
        .first()
    )
    creator = get_user_model().objects.filter(pk=asset.created_by_id).first()
    if event is None or creator is None or event.actor_id == creator.pk:
        return False
    if not _wants([creator], "on_decisions"):
        return False
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
    return _send(subject=f"{subject_word}: {_asset_name(asset)}", body="\n".join(lines), to=creator)


def notify_mentions(*, comment: Comment) -> list[AbstractBaseUser]:
    """Mail each user the comment @mentions who may see its asset (never the author). A decision's comment
    does not mail the asset's creator twice: the decision email carries it. Returns who was mailed."""
    names = mentioned_usernames(comment.body)
    if not names:
        return []
    asset = comment.asset
    users = get_user_model().objects.filter(username__in=names).exclude(pk=comment.author_id)
    if comment.event_id is not None:
        users = users.exclude(pk=asset.created_by_id)
    mailed = []
    for user in _wants(users, "on_mentions"):
        if generation_selectors.asset_get_visible(user=user, asset_id=asset.pk) is None:
            continue  # a mention must not show someone an asset (or its comments) they may not see
        author = comment.author.get_username()
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
        if _send(subject=f"{author} mentioned you: {_asset_name(asset)}", body=body, to=user):
            mailed.append(user)
    return mailed


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
