"""The AI-disclosure mark: IPTC's DigitalSourceType in an XMP packet, built and recognised in one place.

Every writer that marks a file as AI-generated embeds :func:`disclosure_xmp` (generated and refined PNGs,
imports that already declared it, delivery's variants) and every reader asks :func:`declared_source_type`.
Pure Python, so delivery's renderer uses it too.
"""

__all__ = [
    "COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA",
    "TRAINED_ALGORITHMIC_MEDIA",
    "declared_source_type",
    "disclosure_xmp",
]

# IPTC's terms for media made by a model trained on sampled content, and for a composite that includes some;
# sites and platforms read them to label AI images (IPTC Photo Metadata Standard, DigitalSourceType).
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
)
# The composite first: its term contains the other's.
_AI_SOURCE_TYPES = (COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, TRAINED_ALGORITHMIC_MEDIA)


def disclosure_xmp(source_type: str = TRAINED_ALGORITHMIC_MEDIA) -> bytes:
    """A minimal XMP packet declaring ``source_type`` as the image's IPTC DigitalSourceType."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        f'    Iptc4xmpExt:DigitalSourceType="{source_type}"/>\n'
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def declared_source_type(data: bytes | None) -> str | None:
    """The AI DigitalSourceType that ``data`` (an XMP packet, or any bytes holding one) declares, else None.

    The term is matched without regard to case or to the URI around it, as tools spell it differently.
    """
    if not data:
        return None
    lowered = data.lower()
    for source_type in _AI_SOURCE_TYPES:
        if source_type.rpartition("/")[2].lower().encode() in lowered:
            return source_type
    return None
