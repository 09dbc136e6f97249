"""One typed reader for configuration that comes from the environment."""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"Set the {name} environment variable.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}.") from error


def env_seconds(name: str, default: float) -> float:
    """A positive duration in seconds (fractions allowed)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from error
    if not value > 0 or value == float("inf"):
        raise ImproperlyConfigured(f"{name} must be a positive number of seconds, not {raw!r}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_rate(name: str, default: str) -> str:
    """A rate limit as ``"<count>/<period>"`` (see :func:`parse_rate`), checked now: a typo stops start-up."""
    value = env_str(name, default)
    try:
        parse_rate(value)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}: {error}.") from error
    return value


_RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(text: str) -> tuple[int, int] | None:
    """``"30/minute"`` -> ``(30, 60)``: requests and the period's seconds; ``None`` when empty or ``0`` (off).

    The period is ``second``, ``minute``, ``hour`` or ``day`` (or its first letter); raises ``ValueError``.
    """
    text = text.strip().lower()
    if text in ("", "0"):
        return None
    count, _, period = text.partition("/")
    seconds = next((s for name, s in _RATE_PERIODS.items() if period.strip() in (name, name[0])), None)
    if not count.strip().isascii() or not count.strip().isdigit() or seconds is None:
        raise ValueError(f"{text!r} is not a rate: write requests/period, e.g. 30/minute (or 0 for no limit)")
    if int(count) == 0:
        return None
    return int(count), seconds
