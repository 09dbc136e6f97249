"""Reads for the generation app, and the only way other apps read its data."""

from django.core.files.storage import default_storage
from django.db.models import QuerySet

from generation import moderation
from generation.models import Asset, GenerationRequest, PromptRule

VIEW_ALL = "generation.view_all_assets"


def sees_everything(*, user) -> bool:
    """Reviewers and admins see every user's work; everyone else sees their own."""
    return user.has_perm(VIEW_ALL)


def assets_visible_to(*, user) -> QuerySet[Asset]:
    assets = Asset.objects.select_related("request", "created_by")
    return assets if sees_everything(user=user) else assets.filter(created_by=user)


def requests_visible_to(*, user) -> QuerySet[GenerationRequest]:
    requests = GenerationRequest.objects.select_related("created_by", "source_asset")
    return requests if sees_everything(user=user) else requests.filter(created_by=user)


def asset_get_visible(*, user, asset_id: int) -> Asset | None:
    """The asset, if ``user`` may see it: views answer 404 otherwise, so ids reveal nothing."""
    return assets_visible_to(user=user).filter(pk=asset_id).first()


def generation_request_get_visible(*, user, request_id: int) -> GenerationRequest | None:
    return requests_visible_to(user=user).filter(pk=request_id).first()


def generation_request_list(
    *, viewer, only_own: bool = False, limit: int = 50
) -> QuerySet[GenerationRequest]:
    """Requests ``viewer`` may see, newest first; ``only_own`` keeps their own."""
    requests = requests_visible_to(user=viewer).prefetch_related("assets")
    if only_own:
        requests = requests.filter(created_by=viewer)
    return requests[:limit]


def asset_list(*, ids: list[int] | None = None) -> QuerySet[Asset]:
    assets = Asset.objects.select_related("request", "created_by")
    if ids is not None:
        assets = assets.filter(pk__in=ids)
    return assets


def asset_read_bytes(*, asset: Asset) -> bytes:
    with default_storage.open(asset.file.name, "rb") as handle:
        return handle.read()


def asset_facts(*, asset: Asset) -> list[tuple[str, str]]:
    """Everything known about how an asset was made, as label/value pairs for display."""
    facts: list[tuple[str, str]] = [("Operation", asset.get_operation_display())]
    if asset.parent_id:
        facts.append(("Made from", f"asset {asset.parent_id}"))
    if asset.revision_of_id:
        facts.append(("Revision of", f"asset {asset.revision_of_id}"))
    request = asset.request
    if request is not None and request.options:
        facts.append(
            (
                "Options",
                ", ".join(f"{key} {value}" for key, value in sorted(request.options.items()) if value),
            )
        )
    if request is not None:
        facts += [
            ("Prompt", request.prompt),
            ("Negative prompt", request.negative_prompt),
            ("Style", request.style),
            ("Prompt sent to the model", request.full_prompt),
            ("Model", request.model_key),
            ("Scheduler", request.scheduler),
            ("Steps", str(request.steps)),
            ("Guidance", f"{request.guidance:g}"),
        ]
    facts += [
        ("Seed", "" if asset.seed is None else str(asset.seed)),
        ("Size", f"{asset.width} x {asset.height}"),
        ("Format", asset.format.upper()),
        ("File size", f"{asset.byte_size / 1024:.0f} KB"),
        ("Created by", asset.created_by.get_username()),
        ("Created", asset.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("Campaign", asset.campaign),
        ("Product", asset.product),
        ("Channel", asset.channel),
        ("Usage rights", asset.usage_rights),
        ("AI-generated", "yes (IPTC trainedAlgorithmicMedia)" if asset.ai_generated else "no"),
    ]
    return [(label, value) for label, value in facts if value]


def asset_lineage(*, asset: Asset, viewer=None, depth: int = 20) -> dict:
    """Where an asset came from and what was made of it: its ancestors (oldest first) and its children.

    With a ``viewer``, only what they may see: the line stops at an ancestor they may not open.
    """
    visible = assets_visible_to(user=viewer) if viewer is not None else Asset.objects.all()
    ancestors: list[Asset] = []
    current: Asset | None = asset
    while current is not None and current.parent_id and len(ancestors) < depth:
        current = visible.select_related("request").filter(pk=current.parent_id).first()
        if current is not None:
            ancestors.append(current)
    ancestors.reverse()
    children = list(visible.filter(parent=asset).select_related("request").order_by("created_at", "pk")[:50])
    return {
        "ancestors": ancestors,
        "asset": asset,
        "children": children,
        "parent": ancestors[-1] if ancestors else None,
    }


def prompt_rules_active() -> list[moderation.Rule]:
    """The enabled admin rules and the operator's STUDIO_PROMPT_BLOCKLIST, as moderation rules."""
    from django.conf import settings

    return [*_admin_rules(), *moderation.blocklist_rules(settings.STUDIO_PROMPT_BLOCKLIST)]


def _admin_rules() -> list[moderation.Rule]:
    from django.db import DatabaseError, connection

    try:
        rows = list(PromptRule.objects.filter(enabled=True).order_by("pk"))
    except DatabaseError:
        # A database that was never migrated (`manage.py generate` on a fresh clone) has no rules yet; any
        # other failure must not let prompts through unchecked.
        if PromptRule._meta.db_table in connection.introspection.table_names():
            raise
        return []
    return [
        moderation.Rule(
            pattern=rule.pattern,
            kind=rule.kind,
            category=rule.get_category_display(),
            action=rule.action,
            rule_id=rule.pk,
        )
        for rule in rows
    ]


def prompt_verdict(*, prompt: str, negative_prompt: str = "") -> moderation.Verdict:
    """What the prompt rules say about a prompt: every entry point asks this before anything is queued."""
    return moderation.check(prompt_rules_active(), prompt=prompt, negative_prompt=negative_prompt)
