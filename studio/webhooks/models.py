from django.conf import settings
from django.db import models
from django.db.models import Q


class EventType(models.TextChoices):
    """What an endpoint can subscribe to; the value is the payload's ``type``."""

    GENERATION_SUCCEEDED = "generation.succeeded", "Generation succeeded"
    GENERATION_FAILED = "generation.failed", "Generation failed"
    ASSET_SUBMITTED = "asset.submitted", "Asset submitted for review"
    ASSET_APPROVED = "asset.approved", "Asset approved"
    ASSET_CHANGES_REQUESTED = "asset.changes_requested", "Changes requested on an asset"
    ASSET_REJECTED = "asset.rejected", "Asset rejected"
    ASSET_REVOKED = "asset.revoked", "Asset approval revoked"
    # A revision took over the asset's public id: unversioned URLs now show the revision.
    ASSET_REPLACED = "asset.replaced", "Asset replaced by a revision"
    # The rights sweep (delivery/rights.py) emits it once per closing of an asset's usage window.
    ASSET_RIGHTS_EXPIRED = "asset.rights_expired", "Asset usage rights expired"


class WebhookEndpoint(models.Model):
    """A receiver an admin registered, the events it wants, and the secret its messages are signed with."""

    url = models.CharField(max_length=500, help_text="http(s) address that receives a POST per event.")
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="Event types this endpoint receives.")
    # Standard Webhooks: "whsec_" and a base64 key. Kept as is: signing needs the key itself.
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(
        default=True, help_text="Inactive endpoints get no new messages, and pending ones wait."
    )
    # Set when a message ran out of retries; cleared by the next successful delivery.
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["url", "pk"]

    def __str__(self) -> str:
        return self.description or self.url

    def clean(self) -> None:
        from studio.webhooks.services import validate_endpoint

        validate_endpoint(url=self.url, events=self.events)


class WebhookDelivery(models.Model):
    """One event's message to one endpoint: the outbox row, kept afterwards as the delivery's record.

    The body is stored exactly as it is signed and sent, so every attempt (and "send again") sends the same
    bytes under the same ``webhook-id``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # waiting for its first attempt or a retry
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"  # out of retries

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=40, unique=True)
    event_type = models.CharField(max_length=40, choices=EventType.choices, db_index=True)
    # Messages with the same key go to an endpoint in the order they were made ("asset:12"); empty: no order.
    ordering_key = models.CharField(max_length=64, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    retry_until = models.DateTimeField()
    # The attempt in flight: a worker claims a delivery until locked_until; one that died loses it then.
    locked_until = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True)
    # When its message last went to the broker: the sweeper sends it again only when that is stale.
    queued_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        permissions = [("resend_webhookdelivery", "Can send a webhook delivery again")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "ordering_key", "status"], name="webhook_delivery_line"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False),
                name="webhook_pending_has_next_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.endpoint} ({self.get_status_display().lower()})"


class WebhookAttempt(models.Model):
    """One POST of a delivery, as it went: never the whole response body, at most its first kilobyte."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    response_excerpt = models.CharField(max_length=1024, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["started_at", "pk"]

    def __str__(self) -> str:
        outcome = self.status_code or self.error or "no answer"
        return f"Attempt {self.number}: {outcome} in {self.latency_ms} ms"
