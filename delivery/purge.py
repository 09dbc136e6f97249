"""Purging an asset from the caches in front of Studio: a CDN, or nginx / Varnish.

Every delivery response carries the asset's cache tag (``Surrogate-Key`` for Fastly and Varnish' xkey,
``Cache-Tag`` for Cloudflare), so a purge names the asset, not each URL a site happened to use. When an
asset stops being deliverable (revoked; later also rights expiry or a replaced version), Studio deletes its
stored variants and then asks the configured backend to forget it, from a Celery task after the commit,
retried with backoff when the CDN does not answer.

``STUDIO_CDN_PURGE`` picks the backend, each with the request shape its documentation gives:

- ``http``: ``PURGE`` to ``STUDIO_CDN_PURGE_URL`` plus each path the asset was served under (nginx with the
  cache-purge module, Varnish), with the tag in ``xkey-purge`` for Varnish' xkey;
- ``cloudflare``: ``POST /client/v4/zones/<zone>/purge_cache`` with ``{"tags": [...]}`` and a bearer token;
- ``fastly``: ``POST /service/<service>/purge/<tag>`` with ``Fastly-Key`` (a soft purge when asked);
- ``cloudfront``: an invalidation of the delivery prefix through the AWS API (CloudFront cannot purge by
  tag or by a file name in the middle of a path).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from delivery.transformations import EXTENSIONS

logger = logging.getLogger(__name__)

BACKENDS = ("", "http", "cloudflare", "fastly", "cloudfront")
TIMEOUT_SECONDS = 10


def cache_tag(asset_id: int) -> str:
    return f"studio-asset-{asset_id}"


class PurgeError(RuntimeError):
    """The CDN refused or did not answer; the task retries."""


@dataclass(frozen=True)
class PurgeRequest:
    """What to forget: the asset's tag, and the URL paths it was served under (for backends without tags)."""

    tag: str
    paths: tuple[str, ...]


def _send(method: str, url: str, *, headers: dict[str, str], body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as error:
        # nginx's cache-purge answers 404 for a URL that was not cached: nothing to forget.
        if method == "PURGE" and error.code == 404:
            return 404
        raise PurgeError(f"{method} {url}: HTTP {error.code}") from error
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise PurgeError(f"{method} {url}: {error}") from error


def _purge_http(purge: PurgeRequest) -> None:
    base = settings.STUDIO_CDN_PURGE_URL.rstrip("/")
    for path in purge.paths:
        _send("PURGE", base + path, headers={"xkey-purge": purge.tag})


def _purge_cloudflare(purge: PurgeRequest) -> None:
    api = settings.STUDIO_CDN_PURGE_API or "https://api.cloudflare.com"
    _send(
        "POST",
        f"{api.rstrip('/')}/client/v4/zones/{settings.STUDIO_CDN_PURGE_ZONE}/purge_cache",
        headers={
            "Authorization": f"Bearer {settings.STUDIO_CDN_PURGE_TOKEN}",
            "Content-Type": "application/json",
        },
        body=json.dumps({"tags": [purge.tag]}).encode(),
    )


def _purge_fastly(purge: PurgeRequest) -> None:
    api = settings.STUDIO_CDN_PURGE_API or "https://api.fastly.com"
    headers = {"Fastly-Key": settings.STUDIO_CDN_PURGE_TOKEN, "Accept": "application/json"}
    if settings.STUDIO_CDN_PURGE_SOFT:
        headers["Fastly-Soft-Purge"] = "1"
    _send(
        "POST",
        f"{api.rstrip('/')}/service/{settings.STUDIO_CDN_PURGE_ZONE}/purge/{purge.tag}",
        headers=headers,
    )


def _purge_cloudfront(purge: PurgeRequest) -> None:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client("cloudfront", endpoint_url=settings.STUDIO_CDN_PURGE_API or None)
    prefix = _serve_prefix()
    try:
        client.create_invalidation(
            DistributionId=settings.STUDIO_CDN_PURGE_ZONE,
            InvalidationBatch={
                "Paths": {"Quantity": 1, "Items": [f"{prefix}*"]},
                "CallerReference": f"{purge.tag}-{uuid.uuid4().hex}",
            },
        )
    except (BotoCoreError, ClientError) as error:
        raise PurgeError(f"CloudFront invalidation: {error}") from error


_SENDERS = {
    "http": _purge_http,
    "cloudflare": _purge_cloudflare,
    "fastly": _purge_fastly,
    "cloudfront": _purge_cloudfront,
}


def purge_now(purge: PurgeRequest) -> bool:
    """Send one purge through the configured backend; False when none is configured. Raises PurgeError."""
    sender = _SENDERS.get(settings.STUDIO_CDN_PURGE)
    if sender is None:
        return False
    sender(purge)
    logger.info("Purged %s from the CDN (%s)", purge.tag, settings.STUDIO_CDN_PURGE)
    return True


def asset_paths(
    *, public_id: str, variant_keys: Iterable[tuple[str, str]], presets: Iterable[str]
) -> list[str]:
    """The URL paths a site may have fetched the asset under, for backends that purge by URL: the original
    and each named preset with every extension, and each stored variant's canonical URL, signed with every
    key. (Expiring and versioned URLs are not listed: their max-age bounds how long a cache keeps them.)"""
    from delivery.signing import signed_path

    prefix = _serve_prefix()
    names = [public_id, *(f"{public_id}.{ext}" for ext in EXTENSIONS)]
    paths = {*names, *(f"t_{preset}/{name}" for preset in presets for name in names)}
    for transformation, output_format in variant_keys:
        path = (
            f"{transformation}/{public_id}.{output_format}"
            if transformation
            else f"{public_id}.{output_format}"
        )
        paths.add(path)
        paths.update(signed_path(path, [key]) for key in settings.STUDIO_DELIVERY_KEYS)
    return sorted(prefix + path for path in paths)


def _serve_prefix() -> str:
    """What every delivery URL path starts with (``/image/upload/``)."""
    return reverse("delivery:serve", args=["x"]).removesuffix("x")


def purge_asset_on_commit(*, asset_id: int, paths: Iterable[str]) -> None:
    """Forget an asset in the CDN once the change that made it undeliverable commits."""
    if not settings.STUDIO_CDN_PURGE:
        return
    tag, paths = cache_tag(asset_id), sorted(set(paths))
    transaction.on_commit(lambda: _enqueue(tag, paths))


def _enqueue(tag: str, paths: list[str]) -> None:
    from delivery.tasks import purge_cdn

    try:
        purge_cdn.delay(tag, paths)
    except Exception:  # the broker is down: purge in this process rather than not at all
        logger.warning("Could not queue the CDN purge of %s; sending it now", tag, exc_info=True)
        try:
            purge_now(PurgeRequest(tag=tag, paths=tuple(paths)))
        except PurgeError:
            logger.exception("CDN purge of %s failed", tag)
