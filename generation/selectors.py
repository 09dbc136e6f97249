"""Reads for the generation app, and the only way other apps read its data."""

from django.core.files.storage import default_storage
from django.db.models import Model, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from generation import moderation
from generation.models import Asset, GenerationRequest, PromptRule

VIEW_ALL = "generation.view_all_assets"
# Reviewers (review's permission, named here by string: generation imports nothing from review) also see the
# work that belongs to no team, so that it is still reviewed by someone.
REVIEWS = "review.decide_assetreview"


def sees_everything(*, user) -> bool:
    """Admins see every team's work; everyone else their own and their teams' (studio/teams.py)."""
    return user.has_perm(VIEW_ALL)


def _visible(*, user) -> Q | None:
    """Who sees what (the rule is written out in studio/teams.py); None: everything."""
    if sees_everything(user=user):
        return None
    if not user.is_authenticated:
        return Q(pk__in=[])
    # Subqueries, not joins across the memberships: a user in a team twice over (member and reviewer) must
    # not see its rows twice.
    scope = Q(created_by=user) | Q(team__in=user.teams.all()) | Q(team__in=user.reviewed_teams.all())
    if user.has_perm(REVIEWS):
        scope |= Q(team__isnull=True)
    return scope


def assets_visible_to(*, user) -> QuerySet[Asset]:
    assets = Asset.objects.select_related("request", "created_by")
    scope = _visible(user=user)
    return assets if scope is None else assets.filter(scope)


def requests_visible_to(*, user) -> QuerySet[GenerationRequest]:
    requests = GenerationRequest.objects.select_related("created_by", "source_asset")
    scope = _visible(user=user)
    return requests if scope is None else requests.filter(scope)


def in_review_scope(*, user, asset: Asset) -> bool:
    """Whether ``user`` reviews the team ``asset`` belongs to: admins every team, a reviewer the teams they
    are assigned to, and anyone the team-less assets. Review's ``can_decide`` adds the permission to decide.
    """
    if asset.team_id is None or sees_everything(user=user):
        return True
    return user.is_authenticated and user.reviewed_teams.filter(pk=asset.team_id).exists()


def assets_reviewable_by(*, user) -> QuerySet[Asset]:
    """The assets whose team ``user`` reviews (see ``in_review_scope``), as a queryset: the review queue and
    the attention badge count within it."""
    assets = Asset.objects.all()
    if sees_everything(user=user):
        return assets
    if not user.is_authenticated:
        return assets.none()
    return assets.filter(Q(team__isnull=True) | Q(team__in=user.reviewed_teams.all()))


def asset_get_visible(*, user, asset_id: int) -> Asset | None:
    """The asset, if ``user`` may see it: views answer 404 otherwise, so ids reveal nothing."""
    return assets_visible_to(user=user).filter(pk=asset_id).first()


def generation_request_get_visible(*, user, request_id: int) -> GenerationRequest | None:
    return requests_visible_to(user=user).filter(pk=request_id).first()


def generation_request_list(
    *, viewer, only_own: bool = False, limit: int = 50
) -> QuerySet[GenerationRequest]:
    """Requests ``viewer`` may see, newest first; ``only_own`` keeps their own.

    Each asset comes with its review state (``asset.review``, absent before review) and latest comment
    (``review_summary_annotations``).
    """
    assets = Asset.objects.select_related("review").annotate(**review_summary_annotations())
    requests = requests_visible_to(user=viewer).prefetch_related(Prefetch("assets", queryset=assets))
    if only_own:
        requests = requests.filter(created_by=viewer)
    return requests[:limit]


def _related_model(name: str) -> type[Model]:
    """The model at the other end of Asset's relation ``name``."""
    model = Asset._meta.get_field(name).related_model
    assert isinstance(model, type)  # not "self": that is only for a model's relation to itself
    return model


def review_summary_annotations(*, asset_ref: str = "pk") -> dict:
    """``latest_comment`` and ``latest_comment_by`` of the asset at ``asset_ref`` (of the outer query), for
    ``annotate``: the newest comment on it, else the newest decision that had one. Subqueries, so a list
    costs the same number of queries however long it is.

    Comments and review events are review's models, reached through the relations they declare on Asset
    (generation does not import review).
    """
    comments = _related_model("comments")._default_manager.filter(asset=OuterRef(asset_ref))
    comments = comments.order_by("-created_at", "-pk")
    events = _related_model("review_events")._default_manager.filter(asset=OuterRef(asset_ref))
    events = events.exclude(comment="")
    events = events.order_by("-created_at", "-pk")
    return {
        "latest_comment": Coalesce(
            Subquery(comments.values("body")[:1]), Subquery(events.values("comment")[:1])
        ),
        "latest_comment_by": Coalesce(
            Subquery(comments.values("author__username")[:1]), Subquery(events.values("actor__username")[:1])
        ),
    }


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
    generation_request = asset.request
    if generation_request is not None and generation_request.options:
        facts.append(
            (
                "Options",
                ", ".join(
                    f"{key} {value}" for key, value in sorted(generation_request.options.items()) if value
                ),
            )
        )
    if generation_request is not None:
        facts += [
            ("Prompt", generation_request.prompt),
            ("Negative prompt", generation_request.negative_prompt),
            ("Style", generation_request.style),
            ("Prompt sent to the model", generation_request.full_prompt),
            ("Model", generation_request.model_key),
            ("Scheduler", generation_request.scheduler),
            ("Steps", str(generation_request.steps)),
            ("Guidance", f"{generation_request.guidance:g}"),
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
