"""Importing a library of images into review (``manage.py import_images``): generation stores each file as an
asset, and with ``approve`` review approves it in the importer's name.

The two steps meet here, in review, because approving is review's decision and generation imports nothing
from review.
"""

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError

from generation.asset_imports import asset_import
from generation.models import Asset
from review.decisions import asset_review_approve_import
from review.errors import ReviewConflictError, ReviewError, ReviewPermissionError
from review.models import AssetReview
from review.public_ids import PublicIdError, check_public_id


@dataclass(frozen=True)
class ImportedImage:
    asset: Asset
    approved_as: str = ""  # the public id it was approved under; "" when it waits in the review queue


class ImportNotApprovedError(ReviewError):
    """The image was imported, and waits in the review queue, but could not be approved."""


def import_approval_check(*, actor: User, public_id: str | None = None) -> None:
    """Refuse an approval on import before any file is imported: an actor who may not approve, or a chosen
    public id that delivery could not serve or that another asset already has."""
    if not actor.has_perm("review.decide_assetreview"):
        raise ReviewPermissionError(
            f"{actor.get_username()} may not approve images: only reviewers and admins approve on import."
        )
    if public_id is None:
        return
    try:
        # One segment: without a version component in the URL a folder would read as a transformation.
        check_public_id(public_id, folders=False)
    except PublicIdError as error:
        raise ReviewError(f"Invalid public id {public_id!r}: {error} (and no extension).") from None
    if AssetReview.objects.filter(public_id=public_id).exists():
        raise ReviewConflictError(f"The public id {public_id!r} is already taken by another asset.")


def image_import(
    *,
    data: bytes,
    filename: str,
    user: User,
    campaign: str = "",
    approve: bool = False,
    public_id: str | None = None,
) -> ImportedImage:
    """Import one image as an asset and, with ``approve``, approve it on import (under ``public_id`` if
    given, else one made from its name).

    Raises generation's ImageImportError when the file is refused (nothing is stored), and
    ImportNotApprovedError when the image was imported but the approval failed.
    """
    asset = asset_import(data=data, filename=filename, user=user, campaign=campaign)
    if not approve:
        return ImportedImage(asset)
    try:
        review = asset_review_approve_import(asset=asset, actor=user, public_id=public_id)
    except (ReviewError, IntegrityError) as error:
        raise ImportNotApprovedError(f"imported as asset {asset.pk} but not approved: {error}") from error
    assert review.public_id is not None  # the approved_has_public_id constraint
    return ImportedImage(asset, approved_as=review.public_id)
