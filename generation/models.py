from django.conf import settings
from django.db import models
from django.db.models import Q

from generation import operations as ops


class GenerationRequest(models.Model):
    """One press of "Generate": the parameters, who asked, and where the job stands."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    # Text to image and the refine operations, named and labelled once, in generation/operations.py.
    # The stubs type only literal member lists for Enum's functional API.
    Operation = models.TextChoices("Operation", ops.REQUEST_OPERATION_MEMBERS)  # type: ignore[call-overload]

    FINISHED_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="generation_requests"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The team the work belongs to (studio.Team): its members see it, its reviewers review it. Empty for work
    # from before teams existed or by someone in no team: then only its creator, reviewers and admins see it.
    team = models.ForeignKey(
        "studio.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="generation_requests"
    )
    operation = models.CharField(max_length=20, choices=Operation.choices, default=Operation.TEXT_TO_IMAGE)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)

    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    style = models.CharField(max_length=40, blank=True)
    # The prompt actually sent to the model (user prompt plus the style's fragments), kept for the record.
    full_prompt = models.TextField(blank=True)
    full_negative_prompt = models.TextField(blank=True)
    model_key = models.CharField(max_length=100)
    model_source = models.CharField(max_length=500, blank=True)
    scheduler = models.CharField(max_length=100, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    num_images = models.PositiveSmallIntegerField(default=1)
    seed = models.BigIntegerField()
    steps = models.PositiveSmallIntegerField()
    guidance = models.FloatField()

    campaign = models.CharField(max_length=200, blank=True, db_index=True)
    product = models.CharField(max_length=200, blank=True, db_index=True)
    # A free-text channel tag, from before destination channels existed; its assets keep it.
    channel = models.CharField(max_length=100, blank=True)
    # Destination channels (names of delivery's channel presets): each asset it makes starts with them.
    channels = models.JSONField(default=list, blank=True)

    # Refine operations: the image worked on, the painted mask (white = change), the operation's own
    # options (strength, aspect, anchor, colour, scale, mode), and the asset a "Revise" answers.
    source_asset = models.ForeignKey(
        "Asset", on_delete=models.PROTECT, null=True, blank=True, related_name="refinements"
    )
    mask = models.FileField(max_length=300, blank=True)
    options = models.JSONField(default=dict, blank=True)
    revises = models.ForeignKey(
        "Asset", on_delete=models.PROTECT, null=True, blank=True, related_name="revision_requests"
    )

    # Prompt rules whose action is "flag" that matched (generation.moderation.Match.as_flag): the request
    # runs, and its assets carry these into review.
    moderation_flags = models.JSONField(default=list, blank=True)

    progress_step = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # Its worker is loading the model into memory (a worker's first job, or a model it has not run yet): the
    # request page says so instead of showing step 0.
    loading_model = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    # The job's lease (generation/jobs.py): the worker process running it, when that worker last showed it
    # is alive, and how many times a worker has started it. `dispatched_at` is when its message last reached
    # the broker; empty while it has not, so the workers' sweeper sends it (the outbox).
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(num_images__gte=1, num_images__lte=4), name="gen_num_images_1_4"
            ),
            models.CheckConstraint(condition=Q(width__gte=64, height__gte=64), name="gen_min_size"),
            models.CheckConstraint(condition=Q(steps__gte=1), name="gen_steps_positive"),
            models.CheckConstraint(
                condition=Q(operation=ops.TEXT2IMG) | Q(source_asset__isnull=False),
                name="gen_refine_has_source",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.prompt[:40]} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    @property
    def headline(self) -> str:
        """What a list shows for it: the prompt, or for a refine without one, the operation and its source."""
        if self.operation == ops.TEXT2IMG or (self.prompt and self.operation != ops.REMOVE):
            return self.prompt
        return f"{self.get_operation_display()} of asset {self.source_asset_id}"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_step / self.progress_total))


class Asset(models.Model):
    """An image Studio holds: generated by a request, or imported as a source."""

    # What made it: a request's operation, or an import or upload (generation/operations.py).
    Operation = models.TextChoices("Operation", ops.ASSET_OPERATION_MEMBERS)  # type: ignore[call-overload]

    class RightsSource(models.TextChoices):
        GENERATED = "generated", "Generated"
        OWNED = "owned", "Owned"
        LICENSED = "licensed", "Licensed"
        EDITORIAL = "editorial", "Editorial"

    request = models.ForeignKey(
        GenerationRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="assets"
    )
    index = models.PositiveSmallIntegerField(default=0, help_text="Position within its request.")
    # Lineage: the asset this one was refined from (its request says how), and the asset a "Revise"
    # answers (a reviewer asked for changes on it).
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    revision_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="revisions"
    )
    operation = models.CharField(max_length=20, choices=Operation.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assets")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # As on GenerationRequest: who sees and reviews it (generation/selectors.py assets_visible_to).
    team = models.ForeignKey(
        "studio.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="assets"
    )

    file = models.FileField(max_length=300)
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the stored file.")
    format = models.CharField(max_length=10)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveIntegerField()
    seed = models.BigIntegerField(null=True, blank=True)
    ai_generated = models.BooleanField(default=True)

    title = models.CharField(max_length=200, blank=True)
    # What a screen reader says; the embed snippets and responsive tags use it.
    alt_text = models.CharField(max_length=300, blank=True)
    campaign = models.CharField(max_length=200, blank=True, db_index=True)
    product = models.CharField(max_length=200, blank=True, db_index=True)
    channel = models.CharField(max_length=100, blank=True)
    # Destination channels: names of delivery's channel presets (t_<name>), each signed off in review.
    channels = models.JSONField(default=list, blank=True)
    # Free-text notes on usage rights (before the structured fields below existed; kept as notes).
    usage_rights = models.CharField(max_length=200, blank=True)
    # Usage rights (review/metadata.py edits them, on the record): where the image comes from, who licensed
    # it, where and when it may be used. Delivery serves it only inside the window (go-live to expiry).
    rights_source = models.CharField(
        max_length=20, choices=RightsSource.choices, default=RightsSource.GENERATED
    )
    licensor = models.CharField(max_length=200, blank=True)
    licence_reference = models.CharField(max_length=200, blank=True)
    territory = models.CharField(max_length=200, blank=True)
    go_live_at = models.DateTimeField(null=True, blank=True, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When the rights sweep (delivery/rights.py) purged it because its window was closed; cleared by the
    # sweep when the window is open again (an edit moved it), so each closing is handled exactly once.
    rights_closed_handled_at = models.DateTimeField(null=True, blank=True)
    # When the daily expiry reminder last listed it (review/rights.py): at most one reminder a day.
    rights_reminded_at = models.DateTimeField(null=True, blank=True)
    # Where the crops centre (g_auto and the presets that use it), as fractions of the width and height from
    # the top left; unset, libvips' attention crop decides.
    focal_x = models.FloatField(null=True, blank=True)
    focal_y = models.FloatField(null=True, blank=True)

    # Moderation: why this image needs a reviewer's explicit "checked, safe" before it may be approved (the
    # prompt rules its request matched, the safety checker's verdict). Lists blur flagged images.
    is_flagged = models.BooleanField(default=False, db_index=True)
    flags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "index"]
        permissions = [
            # Admins: every team's requests and assets. Without it, a user sees their own and their teams'.
            ("view_all_assets", "Can see every user's generation requests and assets"),
        ]
        constraints = [
            # A re-run of the same request cannot produce a second image in the same slot.
            models.UniqueConstraint(
                fields=["request", "index"],
                condition=Q(request__isnull=False),
                name="asset_unique_request_slot",
            ),
            models.CheckConstraint(
                condition=Q(go_live_at__isnull=True)
                | Q(expires_at__isnull=True)
                | Q(expires_at__gt=models.F("go_live_at")),
                name="asset_rights_expire_after_go_live",
            ),
            models.CheckConstraint(
                condition=~Q(rights_source="licensed") | ~Q(licensor=""), name="asset_licensed_has_licensor"
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"Asset {self.pk}"

    @property
    def prompt(self) -> str:
        return self.request.prompt if self.request else ""


class PromptRule(models.Model):
    """A word, phrase or pattern that blocks a prompt or flags its images for review (admin-edited)."""

    class Kind(models.TextChoices):
        WORD = "word", "Word"
        PHRASE = "phrase", "Phrase"
        REGEX = "regex", "Regular expression"

    class Category(models.TextChoices):
        BRAND_SAFETY = "brand_safety", "Brand safety"
        COMPETITOR = "competitor", "Competitor"
        LEGAL = "legal", "Legal"
        UNSAFE = "unsafe", "Unsafe"
        OTHER = "other", "Other"

    class Action(models.TextChoices):
        BLOCK = "block", "Block the prompt"
        FLAG = "flag", "Flag the images for review"

    pattern = models.CharField(
        max_length=300, help_text="Matched case- and accent-insensitively, on word boundaries."
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PHRASE)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.BRAND_SAFETY)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.BLOCK)
    enabled = models.BooleanField(default=True)
    note = models.TextField(blank=True, help_text="Why the rule exists; shown to admins only.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "pattern"]
        constraints = [
            models.UniqueConstraint(fields=["pattern", "kind"], name="prompt_rule_unique_pattern"),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {self.pattern} ({self.get_action_display().lower()})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from generation.moderation import RuleError, compile_rule

        try:
            compile_rule(self.pattern, self.kind)
        except RuleError as error:
            raise ValidationError({"pattern": str(error)}) from None
