"""Where the names of destination channels come from (``Asset.channels``).

Channel presets live in delivery, which depends on generation; delivery registers its source at start-up, so
generation never imports it.
"""

from collections.abc import Callable

ChannelSource = Callable[[], list[tuple[str, str]]]
_channel_source: list[ChannelSource] = []


def register_channel_source(source: ChannelSource) -> None:
    _channel_source[:] = [source]


def channel_choices() -> list[tuple[str, str]]:
    """(name, label) of every channel preset an asset may name as a destination."""
    return _channel_source[0]() if _channel_source else []
