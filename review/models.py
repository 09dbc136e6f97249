from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from review import public_ids


class ReviewState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"
    # A revision took over this asset's public id: unversioned URLs show the revision now, and this asset
    # stays servable only at its versioned URL (v<n>, see PublicIdVersion).
    REPLACED = "replaced", "Replaced by a revision"


class AssetReview(models.Model):
    """Where one asset stands in review. Only approved assets have a deliverable public id."""

    asset = models.OneToOneField(
        "generation.Asset", on_delete=models.CASCADE, primary_key=True, related_name="review"
    )
    state = models.CharField(
        max_length=20, choices=ReviewState.choices, default=ReviewState.DRAFT, db_index=True
    )
    # Assigned at first approval and kept for good, so a URL embedded on a site never points elsewhere.
    public_id = models.CharField(max_length=public_ids.MAX_LENGTH, unique=True, null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # A flagged asset (Asset.is_flagged) may be approved only after a reviewer marks it "checked, safe".
    flag_checked_at = models.DateTimeField(null=True, blank=True)
    flag_checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["submitted_at"]
        indexes = [
            # The review queue: a state's rows in queue order, read a page at a time without a sort.
            models.Index(fields=["state", "submitted_at", "asset"], name="review_queue_order"),
        ]
        permissions = [
            ("decide_assetreview", "Can approve, reject or request changes"),
            ("revoke_assetreview", "Can revoke an approved asset"),
            ("submit_assetreview", "Can submit assets for review"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="approved") | Q(public_id__isnull=False), name="approved_has_public_id"
            ),
            models.CheckConstraint(
                condition=Q(flag_checked_at__isnull=True, flag_checked_by__isnull=True)
                | Q(flag_checked_at__isnull=False, flag_checked_by__isnull=False),
                name="flag_checked_has_reviewer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}: {self.get_state_display()}"


class ReviewEvent(models.Model):
    """One decision or moderation step on the record. Never changed or deleted once written.

    The database refuses it too (migration 0002): a trigger rejects UPDATE on every backend and DELETE on
    PostgreSQL. Both foreign keys PROTECT, so deleting an asset or a user who has a history is refused
    up front with a ProtectedError rather than cascading into the log.
    """

    class Kind(models.TextChoices):
        DECISION = "decision", "Decision"  # a state change: submit, approve, reject, revoke...
        # Moderation steps, which leave the state as it is (from_state == to_state):
        FLAGGED = "flagged", "Flagged"  # the asset entered review flagged; the comment says why
        CHECKED_SAFE = "checked_safe", "Checked, safe"  # a reviewer vouched for a flagged asset
        EDITED = "edited", "Edited"  # metadata changed; details holds {"changes": {field: [old, new]}}
        REPLACED = "replaced", "Replaced"  # a revision took over this asset's public id

    # PROTECT, not CASCADE: an asset that was ever reviewed keeps its record, so it cannot be deleted.
    asset = models.ForeignKey("generation.Asset", on_delete=models.PROTECT, related_name="review_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_events"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.DECISION)
    from_state = models.CharField(max_length=20, choices=ReviewState.choices)
    to_state = models.CharField(max_length=20, choices=ReviewState.choices)
    comment = models.TextField(blank=True)
    # What the step recorded beyond its comment: a metadata edit's old and new values, the channel crops and
    # checklist ticks an approval signed off.
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        if self.kind != self.Kind.DECISION:
            return f"{self.asset_id}: {self.get_kind_display().lower()} by {self.actor_id}"
        return f"{self.asset_id}: {self.from_state} -> {self.to_state} by {self.actor_id}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValidationError("Review events are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Review events are immutable.")


class Comment(models.Model):
    """A comment on an asset, seen by its creator and its reviewers: general, or pinned to a point of the
    image, and threaded (a reply names its parent). A decision's comment is one too, linked to its event."""

    asset = models.ForeignKey("generation.Asset", on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    event = models.OneToOneField(
        ReviewEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="thread_comment"
    )
    body = models.TextField()
    # A pin, as fractions of the image's width and height from the top left; both empty for a general one.
    x = models.FloatField(null=True, blank=True)
    y = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    # Set on a thread's top-level comments by review.selectors.comment_thread, not stored.
    thread_replies: list["Comment"]
    pin_number: int | None

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(x__isnull=True, y__isnull=True) | Q(x__gte=0, x__lte=1, y__gte=0, y__lte=1),
                name="comment_pin_inside_image",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}: comment {self.pk} by {self.author_id}"

    @property
    def is_pinned(self) -> bool:
        return self.x is not None


class ChecklistItem(models.Model):
    """One point a reviewer ticks before approving (brand fit, no garbled text...). Admins edit the list;
    an approval's event stores the ticks as they read then."""

    label = models.CharField(max_length=200)
    help_text = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.label


class PublicIdVersion(models.Model):
    """Which asset a public id named at each version: 1 at first approval, n+1 each time a revision takes
    the public id over. A delivery URL with ``v<n>`` shows that version's asset while it is approved or
    replaced; one without shows the asset that holds the public id now."""

    public_id = models.CharField(max_length=public_ids.MAX_LENGTH)
    version = models.PositiveIntegerField()
    # PROTECT: a URL that names a version keeps naming that asset.
    asset = models.OneToOneField(
        "generation.Asset", on_delete=models.PROTECT, related_name="public_id_version"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["public_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["public_id", "version"], name="public_id_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="public_id_version_from_one"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} v{self.version}: asset {self.asset_id}"
