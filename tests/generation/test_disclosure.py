"""The AI-disclosure mark: one packet builder and one detector for every writer and reader."""

import pytest

from generation.disclosure import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
    declared_source_type,
    disclosure_xmp,
)

# Pure Python: the same on any database and broker.
pytestmark = pytest.mark.storage_free


@pytest.mark.parametrize("source_type", [TRAINED_ALGORITHMIC_MEDIA, COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA])
def test_a_packet_declares_the_source_type_it_was_built_with(source_type: str) -> None:
    packet = disclosure_xmp(source_type)
    assert packet.startswith(b"<?xpacket begin=") and packet.endswith(b'<?xpacket end="w"?>')
    assert declared_source_type(packet) == source_type


def test_the_term_is_recognised_however_a_tool_spells_it() -> None:
    element_form = b"<Iptc4xmpExt:DigitalSourceType>https://cv.iptc.org/newscodes/digitalsourcetype/TRAINEDALGORITHMICMEDIA"
    assert declared_source_type(element_form) == TRAINED_ALGORITHMIC_MEDIA


@pytest.mark.parametrize("data", [None, b"", b"<x:xmpmeta>digitalCapture</x:xmpmeta>"])
def test_anything_else_declares_nothing(data: bytes | None) -> None:
    assert declared_source_type(data) is None
