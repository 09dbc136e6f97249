"""Reads for delivery: the named presets and what is stored of an asset's variants."""

from delivery.models import NamedPreset, Variant
from generation.models import Asset

__all__ = ["named_presets", "preset_map", "preset_names", "variant_keys_of"]


def named_presets() -> list[NamedPreset]:
    return list(NamedPreset.objects.all())


def preset_map() -> dict[str, str]:
    """Each named preset's transformation by name: what the grammar expands ``t_<name>`` with."""
    return dict(NamedPreset.objects.values_list("name", "transformation"))


def preset_names() -> list[str]:
    return list(NamedPreset.objects.values_list("name", flat=True))


def variant_keys_of(*, asset: Asset) -> list[tuple[str, str]]:
    """(canonical transformation, format) of each stored variant of ``asset``: what its URLs were."""
    return list(Variant.objects.filter(asset=asset).values_list("transformation", "format"))
