from django.db import models


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
