"""The three groups Studio ships with and what each may do. Kept in sync after every migrate.

Runs after each app's post_migrate (permissions appear app by app), so it skips what does not exist yet.
"""

from django.apps import AppConfig
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

MARKETERS = "Marketers"
REVIEWERS = "Reviewers"
ADMINS = "Admins"

GROUP_PERMISSIONS: dict[str, list[str]] = {
    MARKETERS: [
        "generation.add_generationrequest",
        "generation.view_generationrequest",
        "generation.view_asset",
        "review.submit_assetreview",
        "review.view_assetreview",
    ],
    REVIEWERS: [
        "generation.view_generationrequest",
        "generation.view_asset",
        # Not generation.view_all_assets: reviewers see the teams they review (studio/teams.py); admins all.
        "review.view_assetreview",
        "review.submit_assetreview",
        "review.decide_assetreview",
        "review.revoke_assetreview",
        "review.view_reviewevent",
    ],
}


def sync_groups_after_migrate(sender: AppConfig, **kwargs: object) -> None:
    sync_groups()


def sync_groups() -> None:
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        query = Q(pk__in=[])
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            query |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(Permission.objects.filter(query))
    admins, _ = Group.objects.get_or_create(name=ADMINS)
    admins.permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["generation", "review", "delivery", "webhooks", "auth"]
        )
    )
