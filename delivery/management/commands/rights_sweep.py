from django.core.management.base import BaseCommand

from delivery.rights import rights_sweep


class Command(BaseCommand):
    help = (
        "One round of the usage-rights sweep: purge approved assets whose usage window closed (stored "
        "variants and the CDN; asset.rights_expired to webhooks). Workers run it every "
        "STUDIO_RIGHTS_SWEEP_SECONDS; safe to run from cron as well."
    )

    def handle(self, *args, **options) -> None:
        done = rights_sweep()
        self.stdout.write(
            f"{done['closed']} asset(s) purged ({done['expired']} expired, {done['variants']} variant(s) "
            f"deleted); {done['reopened']} live again."
        )
