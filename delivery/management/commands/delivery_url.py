import re
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from delivery.transformations import TransformationError
from delivery.urls_builder import variant_url

_DURATION = re.compile(r"([0-9]{1,6})([mhdw])\Z")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str) -> datetime:
    """``7d``, ``12h``, ``30m``, ``2w`` from now, or an ISO date or time (UTC unless it says otherwise)."""
    match = _DURATION.match(text.strip())
    if match:
        return timezone.now() + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise CommandError(
            f"--expires {text!r}: give a duration (30m, 12h, 7d, 2w) or an ISO date"
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Print a signed delivery URL for an approved asset's public id and a transformation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("public_id")
        parser.add_argument("transformation", help="e.g. c_fill,g_auto,w_1200,h_630/f_auto")
        parser.add_argument(
            "--ext", default="", help="file extension (jpg, png, webp, avif); none keeps f_ or the original"
        )
        parser.add_argument("--base", default="http://127.0.0.1:8000", help="scheme and host to put in front")
        parser.add_argument(
            "--expires", default="", help="the URL stops working after this: 30m, 12h, 7d, 2w, or an ISO date"
        )

    def handle(self, *args, **options) -> None:
        expires = parse_expiry(options["expires"]) if options["expires"] else None
        if expires is not None and expires <= timezone.now():
            raise CommandError("--expires is in the past")
        try:
            url = variant_url(
                options["public_id"],
                options["transformation"],
                ext=options["ext"] or None,
                sign=True,
                expires=expires,
            )
        except TransformationError as error:
            raise CommandError(f"Bad transformation: {error}") from error
        self.stdout.write(options["base"].rstrip("/") + url)
