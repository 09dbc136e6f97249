import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from studio.models import Team
from studio.roles import ADMINS, MARKETERS, REVIEWERS, sync_groups

# Two teams, each with a marketer and a reviewer assigned to review it; the admin sees both.
TEAMS = [("Brand", "brand"), ("Retail", "retail")]
ACCOUNTS = [
    # username, group, admin, team it works in, team it reviews
    ("marketer", MARKETERS, False, "brand", None),
    ("reviewer", REVIEWERS, False, None, "brand"),
    ("retail_marketer", MARKETERS, False, "retail", None),
    ("retail_reviewer", REVIEWERS, False, None, "retail"),
    ("admin", ADMINS, True, None, None),
]


class Command(BaseCommand):
    help = (
        "Create two teams (Brand, Retail), a marketer and a reviewer for each and an admin, with random "
        "passwords, only when there are no users."
    )

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.exists():
            self.stdout.write("Accounts exist already; no demo accounts created.")
            return
        sync_groups()
        created = []
        with transaction.atomic():
            teams = {
                slug: Team.objects.get_or_create(slug=slug, defaults={"name": name})[0]
                for name, slug in TEAMS
            }
            for username, group_name, is_admin, member_of, reviews in ACCOUNTS:
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(
                    username=username,
                    password=password,
                    email=f"{username}@example.com",
                    is_staff=is_admin,
                    is_superuser=is_admin,
                )
                user.groups.add(Group.objects.get(name=group_name))
                if member_of:
                    teams[member_of].members.add(user)
                if reviews:
                    teams[reviews].reviewers.add(user)
                slug = member_of or reviews
                team = teams[slug] if slug else None
                created.append((username, group_name, password, team.name if team else "all teams"))
        self.stdout.write(self.style.SUCCESS("Demo accounts (shown once; change them in the admin):"))
        for username, group_name, password, team_name in created:
            self.stdout.write(f"  {username:<16} {password}   ({group_name}, {team_name})")
