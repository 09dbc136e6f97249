"""What each destination channel of an asset will really be served, for review's channel sign-off: planned
from the channel's named preset and the asset's focal point, and rendered by the same renderer delivery uses.

Registered with ``review.signoff`` at startup; review never imports this module.
"""

import hashlib
import logging

from delivery import selectors, services
from delivery.geometry import planned_size, planned_upscale
from delivery.transformations import DeliveryRequest, TransformationError, parse_delivery_path
from generation.models import Asset
from review import selectors as review_selectors
from review.models import ReviewState
from review.signoff import ChannelCrop

logger = logging.getLogger(__name__)

# Review shows every crop as a JPEG: the geometry is what delivery serves in any format.
CROP_FORMAT = "jpg"


def _channel_request(channel: str, *, public_id: str, presets: dict[str, str]) -> DeliveryRequest:
    return parse_delivery_path(f"t_{channel}/{public_id}.{CROP_FORMAT}", presets=presets)


def plan_channel_crops(asset: Asset) -> list[ChannelCrop]:
    """One ``ChannelCrop`` per destination channel of ``asset``, computed from sizes alone (no pixels)."""
    named = {preset.name: preset for preset in selectors.named_presets()}
    presets = {name: preset.transformation for name, preset in named.items()}
    focal = services.asset_focal_point(asset)
    crops = []
    for channel in dict.fromkeys(str(name) for name in asset.channels or ()):
        preset = named.get(channel)
        if preset is None:
            crops.append(_unavailable(channel, f"There is no channel preset named {channel!r} any more."))
            continue
        try:
            request = _channel_request(channel, public_id="crop", presets=presets)
        except TransformationError as error:
            logger.warning("Channel crops: preset %r cannot be served: %s", channel, error)
            crops.append(_unavailable(channel, f"The {preset.label} preset cannot be served: {error}."))
            continue
        chain = request.components
        focal_key = services.variant_focal_key(asset=asset, components=chain)
        transformation = request.canonical_transformation
        width, height = planned_size(chain, asset.width, asset.height)
        token_source = f"{channel}|{transformation}|{focal_key}|{asset.content_hash}"
        crops.append(
            ChannelCrop(
                channel=channel,
                label=preset.label,
                transformation=transformation,
                width=width,
                height=height,
                upscale=round(planned_upscale(chain, asset.width, asset.height), 2),
                focal_point=focal if focal_key not in ("", "auto") else None,
                token=hashlib.sha256(token_source.encode()).hexdigest()[:16],
            )
        )
    return crops


def _unavailable(channel: str, problem: str) -> ChannelCrop:
    return ChannelCrop(
        channel=channel,
        label=channel,
        transformation="",
        width=0,
        height=0,
        upscale=1.0,
        focal_point=None,
        token="",
        problem=problem,
    )


def channel_crop_image(*, asset: Asset, channel: str) -> tuple[bytes, str]:
    """The crop ``channel`` serves of ``asset`` as (bytes, content type).

    An approved asset's crop is the stored delivery variant itself (rendered and stored on a miss); any other
    asset's is rendered the same way and not stored, since delivery may not serve it yet. Raises
    ``TransformationError`` (not a channel preset, or over the limits) and the render errors of
    ``delivery.services``.
    """
    presets = selectors.preset_map()
    if channel not in presets:
        raise TransformationError(f"there is no channel preset named {channel!r}")
    review = review_selectors.review_state_of(asset=asset)
    if review is not None and review.state == ReviewState.APPROVED and review.public_id:
        request = _channel_request(channel, public_id=review.public_id, presets=presets)
        try:
            variant = services.variant_get_or_render(asset=asset, delivery=request, output_format=CROP_FORMAT)
            data = services.variant_read(variant=variant)
            if data is not None:
                return data, variant.content_type
        except services.NotDeliverableError:
            pass  # revoked while rendering: show it as any unapproved asset's crop
    request = _channel_request(channel, public_id="crop", presets=presets)
    rendered = services.variant_render_unstored(asset=asset, delivery=request, output_format=CROP_FORMAT)
    return rendered.data, rendered.content_type


def purge_on_focal_point_change(sender, asset: Asset, **kwargs) -> None:
    """Forget the asset's stored variants and ask the CDN to forget it too, after its focal point moved.

    New requests already miss the old crops (the focal point is part of a variant's key); this frees their
    storage, and the CDN purge stops caches in front of Studio serving them.
    """
    review = review_selectors.review_state_of(asset=asset)
    public_id = review.public_id if review is not None and review.state == ReviewState.APPROVED else None
    services.variants_purge_with_cdn(asset=asset, public_id=public_id)
