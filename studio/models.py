"""The JSON API's own records: personal API tokens and the responses kept for Idempotency-Key retries."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ApiToken(models.Model):
    """A personal token for the JSON API. It acts as its user, within its scopes.

    Only a SHA-256 of the token is stored: the token is 256 random bits, so a fast hash is as good as a slow
    one (there is nothing to guess), and it is not keyed with SECRET_KEY so that rotating that key does not
    invalidate every integration. ``prefix`` is the token's first, non-secret part: it finds the row, and
    the Settings page shows it so people can tell their tokens apart.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read: list and read assets, requests, presets, delivery URLs"
        GENERATE = "generate", "Generate: create, refine, upload, cancel, edit metadata"
        REVIEW = "review", "Review: submit, approve, request changes, reject, revoke"
        WEBHOOKS = "webhooks", "Webhooks: register and remove endpoints, read their log, send again (admins)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key``, replayed to retries until it expires.

    A row with no ``response_status`` is a request still in flight: the unique key lets exactly one of two
    concurrent duplicates run.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request's method, path and body.")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.BinaryField(blank=True, default=b"")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key"),
            models.CheckConstraint(
                condition=Q(response_status__isnull=True) | Q(response_status__gte=100),
                name="idempotency_status_is_http",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class Team(models.Model):
    """A group of people whose work belongs together. Members see and refine the team's assets; its reviewers
    review them. Admins (``generation.view_all_assets``) see every team."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="reviewed_teams",
        blank=True,
        help_text="Reviewers who review this team's assets (they need not be members).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class NotificationPreference(models.Model):
    """Which emails a user gets. A user without a row gets them all (the defaults below)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    on_decisions = models.BooleanField(
        default=True, help_text="Email me when my assets are approved, sent back, rejected or revoked."
    )
    on_mentions = models.BooleanField(
        default=True, help_text="Email me when someone @mentions me in a comment."
    )
    # When the user last opened the list of their review outcomes: approvals and rejections decided after it
    # count as new in the navigation badge.
    outcomes_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Notifications for {self.user_id}"
