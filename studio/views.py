from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studio import attention, notifications, services
from studio.forms import ApiTokenForm, NotificationPreferenceForm
from studio.http import AuthenticatedHttpRequest


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.user.has_perm("review.decide_assetreview") and not request.user.has_perm(
        "generation.add_generationrequest"
    ):
        return redirect("review:queue")
    return redirect("generation:create")


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The page django-axes shows for a locked-out login, on /login/ and /admin/login/ alike."""
    cooloff_seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request,
        "registration/locked_out.html",
        {
            "cooloff_minutes": max(1, round(cooloff_seconds / 60)),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
        },
        status=429,
    )
    # Every attempt during the lock-out starts the wait again, so the full cool-off is the honest answer.
    response["Retry-After"] = str(cooloff_seconds)
    return response


def client_ip_address(request: HttpRequest) -> str | None:
    """The client's address for login throttling: REMOTE_ADDR, or the X-Forwarded-For entry our own proxy
    added when STUDIO_TRUSTED_PROXY_COUNT says there are proxies in front of Studio.

    Each proxy appends the address it saw, so with N trusted proxies the client is the N-th entry from the
    right; anything further left came from the client and could say anything.
    """
    proxies = settings.STUDIO_TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR")


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def account_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The Settings page: the user's API tokens. A new token is shown once, in this response only."""
    form = ApiTokenForm(request.POST or None)
    new_token = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            new_token = services.api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.expires_at(),
            )
            form = ApiTokenForm()
            status = 201
        else:
            status = 400
    context = {
        "form": form,
        "new_token": new_token,
        "tokens": services.api_tokens_of(user=request.user),
        "notification_form": _notification_form(request),
    }
    return render(request, "studio/settings.html", context, status=status)


def _notification_form(request: AuthenticatedHttpRequest) -> NotificationPreferenceForm:
    preference = notifications.notification_preference_of(user=request.user)
    return NotificationPreferenceForm(
        initial={"on_decisions": preference.on_decisions, "on_mentions": preference.on_mentions}
    )


@login_required
@require_POST
def notification_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The Settings page's Email notifications section: two switches, so any POST is valid (unticked: off)."""
    form = NotificationPreferenceForm(request.POST)
    form.is_valid()
    notifications.notification_preference_update(
        user=request.user,
        on_decisions=form.cleaned_data["on_decisions"],
        on_mentions=form.cleaned_data["on_mentions"],
    )
    messages.success(request, "Email notifications saved.")
    return redirect(reverse("settings") + "#notifications")


@login_required
@never_cache
@require_GET
def attention_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """What the navigation badge counts: a reviewer's is the queue; anyone else's, their review outcomes.
    Opening it marks the outcomes seen, so approvals and rejections stop counting as new."""
    if attention.reviews_for_decision(user=request.user):
        return redirect("review:queue")
    reviews = list(attention.outcomes_list(user=request.user))
    attention.outcomes_mark_seen(user=request.user)
    return render(request, "studio/attention.html", {"reviews": reviews})


@login_required
@require_POST
def api_token_revoke(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(services.api_tokens_of(user=request.user), pk=token_id)
    if services.api_token_revoke(user=request.user, token_id=token.pk):
        messages.success(
            request, f"Token {token.name!r} revoked: requests made with it are refused from now on."
        )
    else:
        messages.info(request, f"Token {token.name!r} was already revoked.")
    return redirect("settings")
