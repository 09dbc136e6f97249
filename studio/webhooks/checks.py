from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Warning


def check_webhook_settings(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Settings that are fine on a laptop and wrong in production, said at start-up, not found later."""
    if not settings.PRODUCTION:
        return []
    messages: list[CheckMessage] = []
    parts = urlsplit(settings.STUDIO_SITE_URL)
    if parts.scheme not in ("http", "https") or not parts.hostname or "*" in parts.hostname:
        messages.append(
            Warning(
                f"STUDIO_SITE_URL is {settings.STUDIO_SITE_URL!r}: the links in webhook payloads need the "
                "address people and sites reach Studio at.",
                hint="Set STUDIO_SITE_URL, e.g. https://studio.example.com.",
                id="webhooks.W001",
            )
        )
    if settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE:
        messages.append(
            Warning(
                "STUDIO_WEBHOOKS_ALLOW_PRIVATE is on: whoever can register a webhook can make Studio send "
                "requests into its own network (databases, cloud metadata).",
                hint="Turn it off in production; it is meant for local development and tests.",
                id="webhooks.W002",
            )
        )
    return messages
