"""Moments as people say them: "just now", "5 minutes ago", "3 days ago"; never "0 minutes ago".

{% load relative_time %}
<time datetime="{{ comment.created_at|date:'c' }}" title="{{ comment.created_at|date:'Y-m-d H:i' }}">
  {{ comment.created_at|ago }}</time>
"""

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

register = template.Library()

# Closer to now than this, either way, a moment is "just now": Django's timesince would say "0 minutes".
JUST_NOW = timedelta(minutes=1)


@register.filter
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """How long before ``now`` (by default the present) ``moment`` was, in its largest unit: "2 hours ago".
    A moment still to come reads "in 2 hours"; no moment reads as nothing."""
    if moment is None:
        return ""
    if now is None:
        now = timezone.now() if timezone.is_aware(moment) else datetime.now()
    if abs(now - moment) < JUST_NOW:
        return "just now"
    if moment > now:
        return f"in {timeuntil(moment, now, depth=1)}"
    return f"{timesince(moment, now, depth=1)} ago"
