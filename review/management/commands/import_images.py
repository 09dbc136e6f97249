"""``python manage.py import_images PATH... [--approve] [--public-id ID] [--campaign NAME] [--user NAME]``.

Lives in review, not generation, because ``--approve`` records a review decision and generation must not
import review. The file handling itself is generation's ``asset_import``.
"""

import re
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from generation.imports import ImageImportError, asset_import
from review import services as review_services
from review.models import AssetReview

PUBLIC_ID_MAX_LENGTH = AssetReview._meta.get_field("public_id").max_length
# The delivery grammar's public-id segment rule (delivery.transformations), restated because review may not
# import delivery. One segment only: without a version component a folder would read as a transformation.
_PUBLIC_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{PUBLIC_ID_MAX_LENGTH}}}\Z")


class Command(BaseCommand):
    help = (
        "Import existing images as assets: each is validated, turned upright and re-encoded in its own "
        "format without EXIF/GPS. With --approve they are approved at once and deliverable by public id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="image files, or folders to walk")
        parser.add_argument("--approve", action="store_true", help="approve each image (a review event)")
        parser.add_argument(
            "--public-id", help="the public id to deliver the one image under (with --approve)"
        )
        parser.add_argument("--campaign", default="", help="campaign to tag the images with")
        parser.add_argument(
            "--user", help="who imports (and approves): a reviewer or admin; default the first superuser"
        )

    def handle(self, *args, **options) -> None:
        files = _expand(options["paths"])
        public_id: str | None = options["public_id"]
        if public_id is not None:
            if not options["approve"]:
                raise CommandError("--public-id is assigned on approval: add --approve.")
            if len(files) != 1:
                raise CommandError(f"--public-id names one image, but {len(files)} files were given.")
            _check_public_id(public_id)
        user = _user(options["user"])
        if options["approve"] and not user.has_perm("review.decide_assetreview"):
            raise CommandError(f"{user.get_username()} may not approve images: pass a reviewer with --user.")

        refused: list[str] = []
        for path in files:
            try:
                asset = asset_import(
                    data=path.read_bytes(), filename=path.name, user=user, campaign=options["campaign"]
                )
            except (ImageImportError, OSError) as error:
                refused.append(str(error) if isinstance(error, ImageImportError) else f"{path}: {error}")
                self.stderr.write(f"refused {refused[-1]}")
                continue
            line = f"imported {path} as asset {asset.pk} ({asset.width}x{asset.height} {asset.format})"
            if options["approve"]:
                try:
                    review = review_services.asset_review_approve_import(
                        asset=asset, actor=user, public_id=public_id
                    )
                except (review_services.ReviewError, IntegrityError) as error:
                    refused.append(f"{path}: imported as asset {asset.pk} but not approved: {error}")
                    self.stderr.write(refused[-1])
                    continue
                line += f", approved as {review.public_id}"
            if options["verbosity"] >= 1:
                self.stdout.write(line)
        if refused:
            raise CommandError(f"{len(refused)} of {len(files)} file(s) not imported: " + "; ".join(refused))


def _expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{raw}: no such file or folder.")
    if not files:
        raise CommandError("No files to import.")
    return files


def _check_public_id(public_id: str) -> None:
    if not _PUBLIC_ID.match(public_id):
        raise CommandError(
            f"Invalid public id {public_id!r}: use letters, digits, '_' and '-' "
            f"(1-{PUBLIC_ID_MAX_LENGTH} characters, no folders or extension)."
        )
    if AssetReview.objects.filter(public_id=public_id).exists():
        raise CommandError(f"The public id {public_id!r} is already taken by another asset.")


def _user(username: str | None) -> AbstractBaseUser:
    users = get_user_model().objects
    if username:
        user = users.filter(**{users.model.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        return user
    user = users.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if user is None:
        raise CommandError("No superuser to import as: create one (createsuperuser) or pass --user.")
    return user
