"""URL signatures for delivery paths: HMAC-SHA256 with key rotation, checked in constant time.

A signed URL looks like Cloudinary's: ``/image/upload/s--SIGNATURE--/<rest of the path>``, and the
signature covers exactly ``<rest of the path>`` as it appears in the URL (``DeliveryRequest.signed_path``).

Cloudinary's signatures are 8 characters (48 bits) of SHA-1. Ours are the first 24 characters of the
URL-safe base64 of an HMAC-SHA256 (144 bits): short enough for a URL, far beyond online guessing, and
the same ``s--...--`` shape, so the grammar and caches are unchanged.

Keys are a sequence, newest first: the first signs, every one verifies, so rotating is "prepend the new
key, wait out the old URLs' lifetime, drop the old key".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

__all__ = ["SIGNATURE_LENGTH", "sign_path", "signed_path", "verify"]

SIGNATURE_LENGTH = 24
# Binds the MAC to this use, so a key that is (wrongly) shared with another HMAC user cannot be
# turned into a delivery-signing oracle.
_CONTEXT = b"studio.delivery.v1\n"


def sign_path(path: str, keys: Sequence[str | bytes]) -> str:
    """The signature (without ``s--``/``--``) of ``path`` under the newest key, ``keys[0]``."""
    if not keys:
        raise ValueError("no signing key is configured")
    return _mac(keys[0], path)


def signed_path(path: str, keys: Sequence[str | bytes], *, expires: int | None = None) -> str:
    """``path`` with its ``s--SIGNATURE--/`` prefix, ready to append to ``/image/upload/``.

    With ``expires`` (unix seconds) the URL carries ``e--<expires>--/`` after the signature, which covers it.
    """
    path = path.lstrip("/")
    if expires is not None:
        path = f"e--{int(expires)}--/{path}"
    return f"s--{sign_path(path, keys)}--/{path}"


def verify(signature: str | None, path: str, keys: Sequence[str | bytes]) -> bool:
    """True when ``signature`` matches ``path`` under any key. Never raises for bad input."""
    if not signature or not keys or not isinstance(signature, str):
        return False
    try:
        given = signature.encode("ascii")
    except UnicodeEncodeError:
        return False
    matched = False
    # Check every key, not stopping at the first match, so timing does not reveal which key signed.
    for key in keys:
        matched |= hmac.compare_digest(_mac(key, path).encode("ascii"), given)
    return matched


def _mac(key: str | bytes, path: str) -> str:
    key_bytes = key.encode("utf-8") if isinstance(key, str) else key
    if not key_bytes:
        raise ValueError("an empty signing key is not allowed")
    digest = hmac.new(key_bytes, _CONTEXT + path.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:SIGNATURE_LENGTH]
