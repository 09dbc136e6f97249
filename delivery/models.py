from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from delivery.transformations import (
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
    transformation = models.CharField(max_length=500, help_text="Canonical transformation string.")
    format = models.CharField(max_length=10)
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

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "source_hash", "transformation", "format"], name="variant_unique_key"
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
