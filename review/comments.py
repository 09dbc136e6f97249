"""Comments on an asset: general, pinned at a point of the image, or a reply; a decision's comment joins the
thread too (``transitions.transition``)."""

import math

from django.contrib.auth.models import User
from django.db import transaction

from generation import selectors as generation_selectors
from generation.models import Asset
from review.errors import ReviewError, ReviewPermissionError
from review.models import Comment, ReviewEvent
from review.signals import comment_posted

COMMENT_MAX_LENGTH = 2000


class CommentError(ReviewError):
    """A comment that cannot be posted as written; the message says why."""


def comment_store(
    *,
    asset: Asset,
    author: User,
    body: str,
    parent: Comment | None = None,
    x: float | None = None,
    y: float | None = None,
    event: ReviewEvent | None = None,
) -> Comment:
    """Save a comment already checked, and announce it after the commit. Call it inside a transaction."""
    comment = Comment.objects.create(
        asset=asset, author=author, body=body, parent=parent, x=x, y=y, event=event
    )
    transaction.on_commit(lambda: comment_posted.send(sender=Comment, comment=comment))
    return comment


def comment_create(
    *,
    asset: Asset,
    author: User,
    body: str,
    parent: Comment | None = None,
    x: float | None = None,
    y: float | None = None,
) -> Comment:
    """A comment on an asset by someone who may see it: general, or pinned at (x, y) as fractions of the
    image's width and height, or a reply. Replies stay one level deep: a reply to a reply joins the thread
    of the comment it answers."""
    body = (body or "").strip()
    if not body:
        raise CommentError("Write something first: the comment is empty.")
    if len(body) > COMMENT_MAX_LENGTH:
        raise CommentError(f"Keep a comment under {COMMENT_MAX_LENGTH} characters (it has {len(body)}).")
    if generation_selectors.asset_get_visible(user=author, asset_id=asset.pk) is None:
        raise ReviewPermissionError("You cannot comment on an asset you cannot see.")
    if (x is None) != (y is None):
        raise CommentError("A pin needs both a horizontal and a vertical position.")
    if (
        x is not None
        and y is not None
        and not all(math.isfinite(value) and 0 <= value <= 1 for value in (x, y))
    ):
        raise CommentError("A pin must be inside the image.")
    if parent is not None:
        if parent.asset_id != asset.pk:
            raise CommentError("That comment is on another asset.")
        if x is not None:
            raise CommentError("A reply answers its comment's pin; it cannot have a pin of its own.")
        parent = parent.parent or parent
    with transaction.atomic():
        return comment_store(asset=asset, author=author, body=body, parent=parent, x=x, y=y)
