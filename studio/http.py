"""The request types Studio's views annotate with: what the middleware has added to Django's ``HttpRequest``
by the time a view runs."""

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class AuthenticatedHttpRequest(HttpRequest):
    """A request to a view under ``@login_required``: its user is signed in, never ``AnonymousUser``."""

    user: User


class HtmxHttpRequest(AuthenticatedHttpRequest):
    """A signed-in request to a view that answers htmx with a fragment: ``request.htmx`` is true when htmx
    sent it (django-htmx's middleware sets it)."""

    htmx: HtmxDetails
