from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from studio.attention import Attention, attention_of


def attention(request: HttpRequest) -> dict:
    """``attention``: the navigation badge (studio/attention.py), counted only when a page shows it, and once
    per request however many templates render."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def counted() -> Attention:
        # Kept on the request, which has no such attribute in its type: every template rendered shares it.
        if not hasattr(request, "_studio_attention"):
            request._studio_attention = attention_of(user=user)  # type: ignore[attr-defined]
        return request._studio_attention  # type: ignore[attr-defined]

    return {"attention": SimpleLazyObject(counted)}
