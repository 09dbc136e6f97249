"""System checks for delivery settings, run at start-up (``manage.py check``, runserver, migrate, the worker).

Presets live in the database and are checked when saved (``NamedPreset.clean``); these cover what lives in
settings, so a bad allow-list entry stops the start with its reason instead of being skipped per request.
"""

from django.conf import settings
from django.core.checks import CheckMessage, Error

from delivery.models import delivery_size_limits
from delivery.transformations import TransformationError, check_size_limits, parse_written_transformation

LIMIT_SETTINGS = (
    "STUDIO_DELIVERY_MAX_WIDTH",
    "STUDIO_DELIVERY_MAX_HEIGHT",
    "STUDIO_DELIVERY_MAX_PIXELS",
    "STUDIO_DELIVERY_MAX_SOURCE_PIXELS",
    "STUDIO_DELIVERY_MAX_RENDERS",
)


def check_delivery_limits(app_configs=None, **kwargs) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name in LIMIT_SETTINGS:
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            messages.append(
                Error(
                    f"{name} is {value!r}; it must be a whole number above 0.",
                    hint=f"Set {name} to a positive number, or unset it for the default.",
                    id="delivery.E002",
                )
            )
    return messages


def check_allowed_transformations(app_configs=None, **kwargs) -> list[CheckMessage]:
    entries = settings.STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS
    if isinstance(entries, str) or not all(isinstance(entry, str) for entry in entries):
        return [
            Error(
                "STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS must be a list of transformation strings.",
                hint='Set it to whitespace-separated transformations: "c_limit,w_800 c_fill,w_400,h_300".',
                id="delivery.E001",
            )
        ]
    if check_delivery_limits():
        return []  # the limits cannot be compared against until they are fixed
    messages: list[CheckMessage] = []
    for entry in entries:
        try:
            check_size_limits(parse_written_transformation(entry), **delivery_size_limits())
        except TransformationError as error:
            messages.append(
                Error(
                    f"STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS entry {entry!r} cannot be served: {error}.",
                    hint="Fix or remove the entry; entries are separated by whitespace and use the delivery "
                    "URL grammar (see README, Delivery URLs).",
                    id="delivery.E001",
                )
            )
    return messages


# What each purge backend needs besides its name (delivery/purge.py).
PURGE_NEEDS = {
    "http": ("STUDIO_CDN_PURGE_URL",),
    "cloudflare": ("STUDIO_CDN_PURGE_ZONE", "STUDIO_CDN_PURGE_TOKEN"),
    "fastly": ("STUDIO_CDN_PURGE_ZONE", "STUDIO_CDN_PURGE_TOKEN"),
    "cloudfront": ("STUDIO_CDN_PURGE_ZONE",),
}


def check_cdn_purge(app_configs=None, **kwargs) -> list[CheckMessage]:
    backend = settings.STUDIO_CDN_PURGE
    if not backend:
        return []
    if backend not in PURGE_NEEDS:
        return [
            Error(
                f"STUDIO_CDN_PURGE is {backend!r}; it must be one of {', '.join(sorted(PURGE_NEEDS))}, "
                "or empty.",
                id="delivery.E003",
            )
        ]
    missing = [name for name in PURGE_NEEDS[backend] if not getattr(settings, name)]
    if missing:
        return [
            Error(
                f"STUDIO_CDN_PURGE={backend} needs {' and '.join(missing)}.",
                hint="See README, Delivery URLs: purging caches.",
                id="delivery.E003",
            )
        ]
    return []
