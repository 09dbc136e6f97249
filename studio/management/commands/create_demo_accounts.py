import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from review.roles import ADMINS, MARKETERS, REVIEWERS, sync_groups

ACCOUNTS = [
    ("marketer", MARKETERS, False),
    ("reviewer", REVIEWERS, False),
    ("admin", ADMINS, True),
]


class Command(BaseCommand):
    help = "Create a marketer, a reviewer and an admin with random passwords, only when there are no users."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.exists():
            self.stdout.write("Accounts exist already; no demo accounts created.")
            return
        sync_groups()
        created = []
        with transaction.atomic():
            for username, group_name, is_admin in ACCOUNTS:
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(
                    username=username, password=password, is_staff=is_admin, is_superuser=is_admin
                )
                user.groups.add(Group.objects.get(name=group_name))
                created.append((username, group_name, password))
        self.stdout.write(self.style.SUCCESS("Demo accounts (shown once; change them in the admin):"))
        for username, group_name, password in created:
            self.stdout.write(f"  {username:<10} {password}   ({group_name})")
