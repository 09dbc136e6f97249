"""Channel sign-off: before an asset is approved, a reviewer looks at the crop each of its destination
channels will really be served, and the approval records those crops.

Review owns the rule; delivery knows what a channel's crop is (its named presets and renderer) and registers
its planner here at startup, so review never imports delivery (as with ``panels.py``).

A crop is named by a token that changes whenever the crop would (the channel's transformation, the focal
point when the transformation uses ``g_auto``, the source file), so a crop seen before the focal point moved
no longer counts after it.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from generation.models import Asset

# A channel that enlarges the source more than this looks soft; the review page says so.
UPSCALE_WARNING = 2.0


@dataclass(frozen=True)
class ChannelCrop:
    """What one destination channel will serve of an asset."""

    channel: str  # the delivery preset's name (t_<name>)
    label: str
    transformation: str  # canonical, the preset expanded
    width: int
    height: int
    upscale: float  # how many times the source's pixels are enlarged (1.0: never)
    focal_point: tuple[float, float] | None  # the point the crop centres on, when it uses one
    token: str
    problem: str = ""  # why this channel cannot be shown (no such preset, a preset that cannot be served)

    @property
    def seen_value(self) -> str:
        """What a client sends back (``crops_seen``) to say it showed this crop."""
        return f"{self.channel}:{self.token}"

    @property
    def upscale_warning(self) -> bool:
        return self.upscale > UPSCALE_WARNING

    def record(self) -> dict:
        """The crop as the approval event keeps it."""
        return {
            "channel": self.channel,
            "transformation": self.transformation,
            "focal_point": list(self.focal_point) if self.focal_point else None,
            "width": self.width,
            "height": self.height,
        }


CropPlanner = Callable[[Asset], list[ChannelCrop]]
_planners: list[CropPlanner] = []


def register_crop_planner(planner: CropPlanner) -> CropPlanner:
    if planner not in _planners:
        _planners.append(planner)
    return planner


def channel_crops(*, asset: Asset) -> list[ChannelCrop]:
    """The crop of each destination channel of ``asset``, in the order the channels are listed."""
    if not asset.channels or not _planners:
        return []
    return _planners[-1](asset)


def crops_unseen(*, crops: Iterable[ChannelCrop], crops_seen: Iterable[str]) -> list[ChannelCrop]:
    """The crops not named (with their current token) in ``crops_seen``."""
    seen = {str(value) for value in crops_seen}
    return [crop for crop in crops if crop.problem or crop.seen_value not in seen]
