"""Teams: which teams a user works in and reviews. The visibility rule itself is generation/selectors.py
``assets_visible_to``; the right to decide is review/decisions.py ``can_decide``.

The rule, in one place for people:
- admins (``generation.view_all_assets``: the Admins group, superusers) see every team's work;
- everyone sees their own work, and the work of the teams they are a member of or review;
- work that belongs to no team (made before teams existed, or by someone in no team) is seen by its creator,
  by reviewers and by admins, as before teams existed;
- a reviewer decides on the assets of the teams they review and on team-less assets; a reviewer assigned to
  no team reviews team-less assets only.
"""

from django.contrib.auth.models import User
from django.db.models import QuerySet

from studio.models import Team


class TeamChoiceError(ValueError):
    """The user is not a member of the team they asked to work in; the message is fit to show them."""


def teams_of(*, user: User) -> QuerySet[Team]:
    """The teams ``user`` is a member of, by name."""
    return Team.objects.filter(members=user).order_by("name")


def team_for_new_work(*, user: User, team_id: int | None = None) -> Team | None:
    """The team new work by ``user`` belongs to: the one asked for (a member's only), else their first."""
    teams = teams_of(user=user)
    if team_id is None:
        return teams.first()
    team = teams.filter(pk=team_id).first()
    if team is None:
        raise TeamChoiceError("You are not a member of that team.")
    return team


def team_id_for_creator(*, user_id: int) -> int | None:
    """The first team (by name) of the user with this id, for work a worker stores on their behalf."""
    return Team.objects.filter(members__pk=user_id).order_by("name").values_list("pk", flat=True).first()
