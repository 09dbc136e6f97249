from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from delivery.services import preset_map
from delivery.signing import signed_path
from delivery.transformations import TransformationError, parse_delivery_path


class Command(BaseCommand):
    help = "Print a signed delivery URL for an approved asset's public id and a transformation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("public_id")
        parser.add_argument("transformation", help="e.g. c_fill,g_auto,w_1200,h_630/f_auto")
        parser.add_argument(
            "--ext", default="", help="file extension (jpg, png, webp, avif); none keeps f_ or the original"
        )
        parser.add_argument("--base", default="http://127.0.0.1:8000", help="scheme and host to put in front")

    def handle(self, *args, **options) -> None:
        name = options["public_id"] + (f".{options['ext']}" if options["ext"] else "")
        path = f"{options['transformation'].strip('/')}/{name}"
        try:
            delivery = parse_delivery_path(path, presets=preset_map())
        except TransformationError as error:
            raise CommandError(f"Bad transformation: {error}") from error
        signed = signed_path(delivery.canonical_path, settings.STUDIO_DELIVERY_KEYS)
        self.stdout.write(options["base"].rstrip("/") + reverse("delivery:serve", args=[signed]))
