"""What a public id may be: one rule for the database column, the ids an operator chooses on import, and
every delivery URL or image layer that names one. Pure Python, no Django, so delivery's URL grammar uses it.

A public id is segments of letters, digits, ``_`` and ``-`` joined by ``/`` (folders), at most
:data:`MAX_LENGTH` characters in all. There is no ``.``, ``..`` or empty segment, so a public id can never
walk a storage path.
"""

import re

__all__ = ["MAX_LENGTH", "PublicIdError", "check_public_id"]

# The length of AssetReview.public_id and PublicIdVersion.public_id.
MAX_LENGTH = 120
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+\Z")


class PublicIdError(ValueError):
    """Not a valid public id; the message says why in one plain-English line."""


def check_public_id(public_id: str, *, folders: bool = True) -> None:
    """Raise :class:`PublicIdError` unless ``public_id`` follows the rule; one segment unless ``folders``."""
    if len(public_id) > MAX_LENGTH:
        raise PublicIdError(f"a public id is at most {MAX_LENGTH} characters, not {len(public_id)}")
    segments = public_id.split("/")
    if len(segments) > 1 and not folders:
        raise PublicIdError("a public id here has no folders ('/')")
    for segment in segments:
        if not _SEGMENT.match(segment):
            raise PublicIdError(
                f"invalid public id segment {_shown(segment)}: use letters, digits, '_' and '-'"
            )


def _shown(text: str, limit: int = 40) -> str:
    # Reasons end up in response bodies and terminals: keep them short and printable.
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown.encode("ascii", "backslashreplace").decode("ascii"))
