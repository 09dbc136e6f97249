"""``python manage.py import_images PATH... [--approve] [--public-id ID] [--campaign NAME] [--user NAME]``.

The work is review.asset_imports.image_import: generation stores each file, review approves it with
--approve. This command finds the files and the user and reports on each file.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation.asset_imports import ImageImportError
from review.asset_imports import ImportedImage, ImportNotApprovedError, image_import, import_approval_check
from review.errors import ReviewError, ReviewPermissionError


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
        approve: bool = options["approve"]
        public_id: str | None = options["public_id"]
        if public_id is not None and not approve:
            raise CommandError("--public-id is assigned on approval: add --approve.")
        if public_id is not None and len(files) != 1:
            raise CommandError(f"--public-id names one image, but {len(files)} files were given.")
        user = _user(options["user"])
        if approve:
            _check_approval(user, public_id)

        refused: list[str] = []
        for path in files:
            try:
                imported = image_import(
                    data=path.read_bytes(),
                    filename=path.name,
                    user=user,
                    campaign=options["campaign"],
                    approve=approve,
                    public_id=public_id,
                )
            except (ImageImportError, ImportNotApprovedError, OSError) as error:
                # An ImageImportError's message names the file already.
                reason = str(error) if isinstance(error, ImageImportError) else f"{path}: {error}"
                refused.append(reason)
                self.stderr.write(f"refused {reason}")
                continue
            if options["verbosity"] >= 1:
                self.stdout.write(_report(path, imported))
        if refused:
            raise CommandError(f"{len(refused)} of {len(files)} file(s) not imported: " + "; ".join(refused))


def _report(path: Path, imported: ImportedImage) -> str:
    asset = imported.asset
    line = f"imported {path} as asset {asset.pk} ({asset.width}x{asset.height} {asset.format})"
    return line + (f", approved as {imported.approved_as}" if imported.approved_as else "")


def _check_approval(user: User, public_id: str | None) -> None:
    try:
        import_approval_check(actor=user, public_id=public_id)
    except ReviewPermissionError as error:
        raise CommandError(f"{error} Pass a reviewer with --user.") from None
    except ReviewError as error:
        raise CommandError(str(error)) from None


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


def _user(username: str | None) -> User:
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
