from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from delivery.overlays import DEFAULT_FONT, FONTS
from delivery.transformations import (
    MAX_PATH_LENGTH,
    MAX_PIXELS_PARAM,
    TransformationError,
    check_preset_name,
    check_size_limits,
    parse_transformation,
)


def delivery_size_limits() -> dict[str, int]:
    """The renderer's output limits, as keyword arguments for ``check_size_limits``."""
    return {
        "max_width": settings.STUDIO_DELIVERY_MAX_WIDTH,
        "max_height": settings.STUDIO_DELIVERY_MAX_HEIGHT,
        "max_pixels": settings.STUDIO_DELIVERY_MAX_PIXELS,
    }


class Variant(models.Model):
    """A rendered variant of an approved asset, stored once and served many times."""

    asset = models.ForeignKey("generation.Asset", on_delete=models.CASCADE, related_name="variants")
    # The source's hash is part of the key, so replacing an asset's file can never serve a stale render.
    source_hash = models.CharField(max_length=64)
    transformation = models.CharField(
        max_length=MAX_PATH_LENGTH, help_text="Canonical transformation string."
    )
    format = models.CharField(max_length=10)
    # The asset's focal point for a chain with g_auto ("auto" while it has none), empty for chains the focal
    # point does not change: moving the point makes its earlier crops unreachable, even one still rendering.
    focal = models.CharField(max_length=40, blank=True, default="")
    file = models.FileField(max_length=300)
    content_type = models.CharField(max_length=50)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveIntegerField()
    etag = models.CharField(max_length=70)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a request last used it, to at most a minute (services.VARIANT_TOUCH_INTERVAL): the variant caps
    # evict the least recently used first.
    last_used_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The assets drawn over it as layers (l_<public_id>): the key names only the base asset, so this is how
    # revoking (or closing the window of) an overlaid asset finds the variants that show it.
    overlay_assets = models.ManyToManyField(
        "generation.Asset", blank=True, related_name="overlaid_in_variants"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "source_hash", "transformation", "format", "focal"],
                name="variant_unique_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}/{self.transformation}.{self.format}"


class NamedPreset(models.Model):
    """A named transformation (``t_<name>``), served without a signature even in strict mode."""

    name = models.SlugField(max_length=60, unique=True)
    label = models.CharField(max_length=100)
    transformation = models.CharField(max_length=300)
    description = models.CharField(max_length=300, blank=True)
    sizes = models.CharField(
        max_length=200, blank=True, help_text='The <img sizes> attribute for responsive markup, e.g. "100vw".'
    )
    widths = models.CharField(
        max_length=100, blank=True, help_text="Comma-separated widths for srcset, e.g. 480,960,1440."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        problems = self.problems()
        if problems:
            raise ValidationError(problems)

    def problems(self) -> dict[str, str]:
        """Why this preset cannot be served, by field; empty when it can.

        ``clean()`` refuses these on save; pages call it too, since a row written around the admin (SQL, an
        older version) must be skipped with a reason rather than break every page that lists presets.
        """
        problems: dict[str, str] = {}
        try:
            check_preset_name(self.name)
        except TransformationError as error:
            problems["name"] = str(error)
        try:
            # No preset table: a preset may not use another one (t_...), which the grammar refuses, so
            # presets can never expand into each other or into themselves.
            chain = parse_transformation(self.transformation)
            check_size_limits(chain, **delivery_size_limits())
        except TransformationError as error:
            problems["transformation"] = str(error)
        widths_problem = self._widths_problem()
        if widths_problem:
            problems["widths"] = widths_problem
        return problems

    def _widths_problem(self) -> str:
        limit = min(settings.STUDIO_DELIVERY_MAX_WIDTH, MAX_PIXELS_PARAM)
        for item in self.widths.split(","):
            item = item.strip()
            if not item:
                continue
            if not (item.isascii() and item.isdigit() and 1 <= int(item) <= limit):
                return (
                    f"{item!r} is not a width: list whole numbers of pixels from 1 to {limit}, e.g. 480,960"
                )
        return ""


_HEX_COLOUR = RegexValidator(r"\A#[0-9A-Fa-f]{6}\Z", "Use a colour such as #1a2b3c.")


class BrandKit(models.Model):
    """A team's logo, font and colours, which named presets reference as ``l_$logo``, ``$font``,
    ``co_$primary`` and ``co_$secondary`` (delivery/overlays.py), so that a preset such as "Square social
    post" can put the logo in a corner without anyone typing a URL.

    The kit without a team is the studio's default: it serves assets of no team and of teams without a kit
    of their own. Without any kit, or with no approved logo, a ``l_$logo`` layer is left out.
    """

    name = models.CharField(max_length=100)
    team = models.OneToOneField(
        "studio.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="brand_kit",
        help_text="Leave empty for the studio's default kit (assets of no team, or of a team without a kit).",
    )
    logo = models.ForeignKey(
        "generation.Asset",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="An approved asset; while it is not approved (or outside its usage window) no logo shows.",
    )
    font = models.CharField(
        max_length=40, choices=[(name, font.family) for name, font in FONTS.items()], default=DEFAULT_FONT
    )
    primary_colour = models.CharField(max_length=7, default="#000000", validators=[_HEX_COLOUR])
    secondary_colour = models.CharField(max_length=7, default="#ffffff", validators=[_HEX_COLOUR])

    class Meta:
        constraints = [
            # One kit per team, and one default kit (team empty): NULLs are distinct in a plain unique index.
            models.UniqueConstraint(
                Coalesce("team", models.Value(0)),
                name="brand_kit_one_per_team",
                violation_error_message="There is already a brand kit for this team (or a default kit).",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from review.models import ReviewState
        from review.selectors import review_state_of

        self.primary_colour = self.primary_colour.lower()
        self.secondary_colour = self.secondary_colour.lower()
        if self.logo is not None:
            review = review_state_of(asset=self.logo)
            if review is None or review.state != ReviewState.APPROVED or not review.public_id:
                raise ValidationError({"logo": "The logo must be an approved asset (it needs a public id)."})
