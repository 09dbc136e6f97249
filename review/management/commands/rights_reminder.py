from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from review.rights import rights_reminder_send


class Command(BaseCommand):
    help = (
        "Email creators and reviewers the approved assets whose usage rights expire soon (each asset at most "
        "once a day). Workers send it daily after STUDIO_RIGHTS_REMIND_HOUR; or run this from cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=settings.STUDIO_RIGHTS_REMIND_DAYS,
            help="List assets expiring within this many days (default: STUDIO_RIGHTS_REMIND_DAYS).",
        )

    def handle(self, *args, days: int, **options) -> None:
        done = rights_reminder_send(days=days)
        self.stdout.write(f"{done['assets']} asset(s) listed in {done['emails']} email(s).")
