"""Writes for the JSON API's own records: personal tokens, and the responses kept for idempotent retries."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from studio.models import ApiToken, IdempotencyRecord

TOKEN_PREFIX = "studio"
# A token's use is recorded at most this often, so a busy integration does not write on every request.
LAST_USED_INTERVAL = timedelta(minutes=1)
# A request with a key that has been "in flight" this long died without an answer: a retry may take it over.
IDEMPOTENCY_IN_FLIGHT_LIMIT = timedelta(minutes=5)


class TokenError(Exception):
    """The bearer token is not one Studio accepts; the message says why, fit to show its holder."""


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # the whole token, shown once and never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def api_token_create(
    *, user: User, name: str, scopes: list[str], expires_at: datetime | None = None
) -> NewToken:
    """A new token: ``studio_<prefix>_<secret>``, 64 random bits of prefix and 256 of secret."""
    unknown = set(scopes) - set(ApiToken.Scope.values)
    if unknown or not scopes:
        raise ValueError(f"Scopes must be some of {', '.join(ApiToken.Scope.values)}.")
    prefix = secrets.token_hex(8)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name.strip(),
        prefix=prefix,
        token_hash=_hash(secret),
        scopes=[scope for scope in ApiToken.Scope.values if scope in scopes],
        expires_at=expires_at,
    )
    return NewToken(token=token, secret=secret)


def api_token_revoke(*, user: User, token_id: int) -> bool:
    """Revoke one of ``user``'s tokens; False when there is no such active token of theirs."""
    return bool(
        ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def _is_prefix(text: str) -> bool:
    return len(text) == 16 and all(char in "0123456789abcdef" for char in text)


def api_token_authenticate(*, secret: str) -> ApiToken:
    """The active token ``secret`` names, its use recorded; raises TokenError."""
    parts = secret.strip().split("_")
    if len(parts) < 3 or parts[0] != TOKEN_PREFIX or not _is_prefix(parts[1]):
        raise TokenError("This is not a Studio API token (they start with studio_).")
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    # Compared in constant time, so the response time says nothing about how much of the token matched.
    if token is None or not hmac.compare_digest(token.token_hash, _hash(secret.strip())):
        raise TokenError("Unknown API token.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenError(f"The API token {token.name!r} was revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenError(f"The API token {token.name!r} expired.")
    if not token.user.is_active:
        raise TokenError("The user of this API token is deactivated.")
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_tokens_of(*, user: User):
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at")


# --- Idempotency-Key ---------------------------------------------------------------------------------------


class IdempotencyMismatchError(Exception):
    """The key was used before for a different request."""


class IdempotencyInFlightError(Exception):
    """The first request with this key has not answered yet."""


def idempotency_claim(
    *, user: User, key: str, method: str, path: str, fingerprint: str
) -> tuple[IdempotencyRecord, bool]:
    """The record for (user, key) and whether it is new: a new one is in flight and this request owns it;
    an old one is the finished first request, to replay.

    Raises IdempotencyMismatchError when the key was used for another request, IdempotencyInFlightError
    while its first request is still running.
    """
    now = timezone.now()
    for _ in range(2):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=user,
                    key=key,
                    method=method,
                    path=path[:500],
                    fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + timedelta(seconds=settings.STUDIO_API_IDEMPOTENCY_SECONDS),
                )
            return record, True
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
            if existing is None:  # expired and deleted by another request a moment ago
                continue
            abandoned = (
                existing.response_status is None and existing.created_at < now - IDEMPOTENCY_IN_FLIGHT_LIMIT
            )
            if existing.expires_at <= now or abandoned:
                # Deleted only if nobody replaced it since, so two retries cannot both take it over.
                IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
                continue
            if existing.fingerprint != fingerprint:
                raise IdempotencyMismatchError from None
            if existing.response_status is None:
                raise IdempotencyInFlightError from None
            return existing, False
    raise IdempotencyInFlightError


def idempotency_record_response(
    *, record: IdempotencyRecord, status: int, headers: dict[str, str], body: bytes
) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, response_status__isnull=True).update(
        response_status=status, response_headers=headers, response_body=body
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Forget a claim whose request did not finish in a way worth replaying (an error, a refusal)."""
    IdempotencyRecord.objects.filter(pk=record.pk, response_status__isnull=True).delete()


def idempotency_purge_expired(*, batch: int = 500) -> int:
    """Delete up to ``batch`` expired records (every keyed POST calls this, so the table stays small)."""
    expired = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).values_list("pk", flat=True)
    deleted, _ = IdempotencyRecord.objects.filter(pk__in=list(expired[:batch])).delete()
    return deleted
