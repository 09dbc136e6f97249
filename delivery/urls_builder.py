"""Build delivery URLs the serve view accepts in strict mode: unsigned for one named preset, signed otherwise.

Every URL is built from the parser's canonical form, so the signature covers exactly the path the serve
view will verify, and two spellings of one transformation give one URL (and one cached variant).
"""

from collections.abc import Mapping
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from delivery.selectors import preset_map
from delivery.signing import signed_path
from delivery.transformations import parse_delivery_path

__all__ = ["serve_url", "variant_path", "variant_url"]


def variant_path(
    public_id: str,
    transformation: str = "",
    *,
    ext: str | None = None,
    presets: Mapping[str, str] | None = None,
    sign: bool = False,
    expires: datetime | None = None,
    version: int | None = None,
) -> str:
    """The part after ``/image/upload/``; raises ``TransformationError`` for what the view would refuse.

    ``version`` pins the URL to one version of the public id (``v<n>``): a revision that takes the public
    id over later does not change what it shows. Without it the URL shows whichever version holds the id.

    ``presets`` maps preset names to their transformations; pass it when building many URLs at once to
    save a query per URL. A URL strict mode would serve unsigned is left unsigned unless ``sign`` is set;
    one with ``expires`` is always signed, and stops working at that moment.
    """
    name = (f"v{version}/" if version is not None else "") + public_id + (f".{ext}" if ext else "")
    transformation = transformation.strip("/")
    delivery = parse_delivery_path(
        f"{transformation}/{name}" if transformation else name,
        presets=preset_map() if presets is None else presets,
    )
    keys = settings.STUDIO_DELIVERY_KEYS
    if expires is not None:
        return signed_path(delivery.canonical_path, keys, expires=int(expires.timestamp()))
    if delivery.uses_one_preset_at_most and not sign:
        # Strict mode serves these unsigned, and an unsigned URL survives a key rotation.
        return delivery.canonical_path
    return signed_path(delivery.canonical_path, keys)


def variant_url(
    public_id: str,
    transformation: str = "",
    *,
    ext: str | None = None,
    request: HttpRequest | None = None,
    presets: Mapping[str, str] | None = None,
    sign: bool = False,
    expires: datetime | None = None,
    version: int | None = None,
) -> str:
    """A site-relative URL, or an absolute one when ``request`` is given (for snippets pasted elsewhere)."""
    path = variant_path(
        public_id, transformation, ext=ext, presets=presets, sign=sign, expires=expires, version=version
    )
    return serve_url(path, request=request)


def serve_url(path: str, *, request: HttpRequest | None = None) -> str:
    """The URL of a :func:`variant_path`: site-relative, or absolute when ``request`` is given."""
    url = reverse("delivery:serve", args=[path])
    return request.build_absolute_uri(url) if request is not None else url
