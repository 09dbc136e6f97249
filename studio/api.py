"""The JSON API under /api/v1/: the NinjaAPI, its authentication and scopes, errors as problem details,
Idempotency-Key, the rate limit and conditional GETs. Each app's ``api.py`` holds its router of endpoints:
thin functions over the same forms, services and selectors as the HTML views.

Conventions for a router (see generation/api.py):
- every operation passes ``**scoped("read" | "generate" | "review")``: a bearer token needs that scope, and
  the login session (with CSRF for unsafe methods) works too; either way the request acts as the user and
  the app's own permission and visibility rules decide the rest;
- bad input, refusals and missing objects are raised as :class:`Problem` (or Django's ``Http404`` /
  ``PermissionDenied``), and Django form errors go through :func:`form_problem`, so every error is an
  RFC 9457 ``application/problem+json`` body naming the wrong fields;
- POSTs get Idempotency-Key, every operation the per-token rate limit, and 200 GETs an ETag, from here.
"""

import contextlib
import functools
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Annotated, Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern
from django.utils.cache import (
    get_conditional_response,
    patch_cache_control,
    patch_vary_headers,
    set_response_etag,
)
from ninja import NinjaAPI, Schema, Swagger
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer, SessionAuth
from ninja.throttling import BaseThrottle
from pydantic import AfterValidator, ConfigDict, Field, create_model

from studio import services
from studio.env import parse_rate
from studio.models import ApiToken
from studio.views import client_ip_address

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# Problem types: relative URIs that resolve to GET /api/v1/problems/<slug>, which explains each one.
PROBLEM_TYPES: dict[str, tuple[int, str, str]] = {
    "validation-error": (
        422,
        "Your request is not valid",
        "A field is missing, has the wrong type or is out of range, or what it asks cannot be done. "
        "`errors` names each wrong field (`field`, where it was sent in `in`, and `detail`).",
    ),
    "missing-scope": (
        403,
        "The token lacks a scope",
        "The API token used does not have the scope this operation needs (read, generate or review). "
        "Create a token with it on the Settings page.",
    ),
    "state-conflict": (
        409,
        "The object is not in a state that allows this",
        "For example approving an asset that is not in review, or building a URL for an asset that is not "
        "approved. `detail` says what state it is in.",
    ),
    "idempotency-key-reused": (
        422,
        "Idempotency-Key reused for a different request",
        "The Idempotency-Key was first used with another method, path or body. Use a new key for a new "
        "request.",
    ),
    "idempotency-key-in-flight": (
        409,
        "The first request with this Idempotency-Key is still running",
        "Retry after the number of seconds in Retry-After to get its response.",
    ),
    "invalid-idempotency-key": (
        400,
        "Invalid Idempotency-Key",
        "The key must be 1 to 255 printable ASCII characters; a UUID is a good choice.",
    ),
    "rate-limited": (
        429,
        "Too many requests",
        "The token (or the signed-in user) has used its request rate (STUDIO_API_RATE). Retry after the "
        "number of seconds in Retry-After.",
    ),
}


def problem_type(slug: str) -> str:
    return f"/api/v1/problems/{slug}"


class FieldError(Schema):
    field: str | None = Field(
        description="The field, parameter or header that is wrong; null for the request."
    )
    location: str = Field(alias="in", description="Where it was sent: body, query, path, header, form, file.")
    detail: str


class ProblemSchema(Schema):
    """An RFC 9457 problem details object, sent as application/problem+json."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] = []


class Problem(Exception):
    """Raise from an endpoint to answer with a problem details response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str = "",
        title: str = "",
        errors: Iterable[dict] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title
        self.errors = list(errors)
        self.headers = headers or {}


def field_error(field: str | None, detail: str, location: str = "body") -> dict:
    return {"field": field, "in": location, "detail": detail}


def problem_response(request: HttpRequest, problem: Problem) -> HttpResponse:
    if problem.slug:
        type_uri, title = problem_type(problem.slug), problem.title or PROBLEM_TYPES[problem.slug][1]
    else:
        type_uri, title = "about:blank", problem.title or HTTPStatus(problem.status).phrase
    body = {
        "type": type_uri,
        "title": title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.get_full_path(),
        "errors": problem.errors,
    }
    response = HttpResponse(json.dumps(body), status=problem.status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in problem.headers.items():
        response[name] = value
    # An error is about this request and this caller: never stored by a shared cache.
    response["Cache-Control"] = "no-store"
    return response


def form_problem(form: forms.BaseForm, *, location: str = "body") -> Problem:
    """The 422 for an invalid Django form: the same messages the HTML page shows, by field."""
    errors = [
        field_error(None if name == NON_FIELD_ERRORS else name, str(message), location)
        for name, messages in form.errors.items()
        for message in messages
    ]
    detail = " ".join(error["detail"] for error in errors) or "The request is not valid."
    return Problem(422, detail, slug="validation-error", errors=errors)


def validation_problem(detail: str, field: str | None = None, location: str = "body") -> Problem:
    return Problem(422, detail, slug="validation-error", errors=[field_error(field, detail, location)])


def not_found(what: str) -> Problem:
    return Problem(404, f"No such {what}.")


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store or compare NUL, so text that reaches a query without a form is checked here.
    if "\x00" in value:
        raise ValueError("Text may not contain NUL characters.")
    return value


# The type of a free-text parameter that no Django form checks (a filter, an upload's tag); its bound goes
# beside it: Annotated[Text, Field(max_length=200)].
Text = Annotated[str, AfterValidator(_no_nul)]


# --- Authentication and scopes -----------------------------------------------------------------------------


def _token_for(request: HttpRequest, secret: str):
    """The token ``secret`` names, authenticated once per request (the idempotency check asks too)."""
    cached = getattr(request, "_studio_api_token", None)
    if cached is not None and cached[0] == secret:
        return cached[1]
    try:
        token = services.api_token_authenticate(secret=secret)
    except services.TokenError as error:
        raise AuthenticationError(401, str(error)) from None
    request._studio_api_token = (secret, token)  # type: ignore[attr-defined]
    return token


class BearerToken(HttpBearer):
    """``Authorization: Bearer studio_…``: a personal API token, made on the Settings page."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str):
        api_token = _token_for(request, token)
        request.user = api_token.user
        request.api_token = api_token  # type: ignore[attr-defined]
        if not api_token.has_scope(self.scope):
            raise Problem(
                403,
                f"This operation needs the {self.scope!r} scope; the token {api_token.name!r} has "
                f"{', '.join(api_token.scopes)}.",
                slug="missing-scope",
            )
        return api_token.user


class SessionCookie(SessionAuth):
    """The browser's login session; unsafe methods need the CSRF token (X-CSRFToken header)."""

    def __init__(self, scope: str) -> None:
        self.scope = scope  # documentation only: the session is the user at the keyboard, with every scope
        super().__init__(csrf=True)

    def _get_key(self, request: HttpRequest) -> str | None:
        # No session, nothing to check: the request is simply not authenticated (a 401, not a CSRF 403).
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None):
        return request.user if request.user.is_authenticated and request.user.is_active else None


def scoped(scope: str, openapi_extra: dict | None = None) -> dict[str, Any]:
    """Keyword arguments for a router operation that needs ``scope``: its auth and its documentation."""
    assert scope in ApiToken.Scope.values, scope
    return {
        "auth": [BearerToken(scope), SessionCookie(scope)],
        "openapi_extra": {"x-scope": scope, **(openapi_extra or {})},
    }


def user_of(request: HttpRequest) -> User:
    """The user the request acts as (the token's or the session's)."""
    return request.auth  # type: ignore[attr-defined]


# --- Rate limit --------------------------------------------------------------------------------------------


def fixed_window_hit(key: str, rate: tuple[int, int]) -> int | None:
    """Count one hit on ``key`` in a fixed window; the seconds to wait when over ``rate``, else None.

    The same counting as delivery's render rate: one cache counter per window, expired with it.
    """
    limit, period = rate
    now = time.time()
    window = int(now // period)
    cache_key = f"api:rate:{period}:{window}:{key}"
    if cache.add(cache_key, 1, timeout=period + 1):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add() and incr()
            cache.add(cache_key, 1, timeout=period + 1)
            count = 1
    if count > limit:
        return max(1, math.ceil((window + 1) * period - now))
    return None


class TokenRate(BaseThrottle):
    """STUDIO_API_RATE per token (per user for the session, per address for anonymous requests)."""

    _wait = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        self._wait.seconds = None
        rate = parse_rate(settings.STUDIO_API_RATE)
        if rate is None:
            return True
        token = getattr(request, "api_token", None)
        user = getattr(request, "auth", None)
        if token is not None:
            key = f"token:{token.pk}"
        elif user is not None:
            key = f"user:{user.pk}"
        else:
            key = f"ip:{client_ip_address(request) or '-'}"
        self._wait.seconds = fixed_window_hit(key, rate)
        return self._wait.seconds is None

    def wait(self) -> float | None:
        return getattr(self._wait, "seconds", None)


# --- Idempotency-Key and conditional GETs (decorators around every operation) -----------------------------

# Responses a retry should not get again: the client can fix these (a token, a scope, the rate, a race).
_NOT_REPLAYED = {401, 403, 409, 429}
_REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")


def _identify(request: HttpRequest):
    """Who sends this request, before the operation authenticates it: the key belongs to that user."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() == "bearer":
        return _token_for(request, secret.strip()).user
    return request.user if request.user.is_authenticated else None


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256(f"{request.method} {request.get_full_path()}\n".encode())
    content_type = request.content_type or ""
    if content_type.startswith("multipart/"):
        # The boundary changes on every retry, so the parsed fields and the files' bytes are what count.
        for name, values in sorted(request.POST.lists()):
            digest.update(json.dumps([name, values]).encode())
        for name, uploads in sorted(request.FILES.lists()):
            for upload in uploads:
                digest.update(json.dumps([name, upload.name, upload.size]).encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
        return digest.hexdigest()
    body = request.body
    with contextlib.suppress(ValueError):  # not JSON: the bytes as they came
        # Key order and spacing do not make another request.
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    digest.update(content_type.encode() + b"\n" + body)
    return digest.hexdigest()


def _idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip().strip('"')  # the draft standard writes it as a quoted string
    if not (1 <= len(key) <= 255 and key.isascii() and key.isprintable()):
        raise Problem(
            400,
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            slug="invalid-idempotency-key",
            errors=[field_error("Idempotency-Key", "1 to 255 printable ASCII characters", "header")],
        )
    return key


def _replay(record) -> HttpResponse:
    response = HttpResponse(bytes(record.response_body), status=record.response_status)
    for name, value in record.response_headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(run: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """A POST with ``Idempotency-Key`` runs once per user and key; retries get the first response."""

    @functools.wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method != "POST":
            return run(request, *args, **kwargs)
        try:
            key = _idempotency_key(request)
            user = _identify(request) if key is not None else None
            # No key, or not authenticated: the operation answers (and refuses) itself.
            if key is None or user is None:
                return run(request, *args, **kwargs)
            fingerprint = _fingerprint(request)
            services.idempotency_purge_expired()
            record, created = services.idempotency_claim(
                user=user, key=key, method=request.method, path=request.path, fingerprint=fingerprint
            )
        except services.IdempotencyMismatchError:
            return problem_response(
                request,
                Problem(
                    422,
                    "This Idempotency-Key was already used for a different request (method, path or body).",
                    slug="idempotency-key-reused",
                    errors=[field_error("Idempotency-Key", "already used for a different request", "header")],
                ),
            )
        except services.IdempotencyInFlightError:
            return problem_response(
                request,
                Problem(
                    409,
                    "The first request with this Idempotency-Key has not finished yet.",
                    slug="idempotency-key-in-flight",
                    headers={"Retry-After": "1"},
                ),
            )
        except (Problem, AuthenticationError, RequestDataTooBig) as error:
            return api.on_exception(request, error)
        if not created:
            return _replay(record)
        try:
            response = run(request, *args, **kwargs)
        except BaseException:
            services.idempotency_release(record=record)
            raise
        if (
            isinstance(response, HttpResponse)  # not streamed: its body is there to keep
            and response.status_code < 500
            and response.status_code not in _NOT_REPLAYED
        ):
            headers = {name: response[name] for name in _REPLAYED_HEADERS if response.has_header(name)}
            services.idempotency_record_response(
                record=record, status=response.status_code, headers=headers, body=response.content
            )
        else:
            services.idempotency_release(record=record)
        return response

    return wrapper


def conditional_get(run: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """ETags on successful reads, and 304 for a matching If-None-Match (weak comparison, as Django does)."""

    @functools.wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = run(request, *args, **kwargs)
        if request.method not in ("GET", "HEAD") or response.status_code != 200:
            return response
        if not response.has_header("ETag"):
            if response.streaming:
                return response
            set_response_etag(response)
        # Per user, and always checked with Studio before a cached copy is used (permissions change).
        patch_cache_control(response, private=True, no_cache=True)
        patch_vary_headers(response, ["Authorization", "Cookie"])
        # Django hands back the response it was given (a streamed one too) or a 304; the stub says otherwise.
        return get_conditional_response(  # type: ignore[return-value]
            request,
            etag=response["ETag"],
            response=response,  # type: ignore[arg-type]
        )

    return wrapper


# --- The API -----------------------------------------------------------------------------------------------


class StudioAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict | None = None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        _document_conventions(schema)
        return schema


def _document_conventions(schema: dict) -> None:
    """Add what the decorators and handlers do to every operation: scopes, problems, Idempotency-Key."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemSchema.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    for name, definition in problem.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components["Problem"] = problem
    problem_ref = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    common = {
        "401": "Not authenticated: no, an unknown, a revoked or an expired token.",
        "403": "Authenticated, but the token lacks the scope, or the user may not do this.",
        "404": "No such object, or not one this user may see.",
        "422": "A field is wrong; `errors` names it.",
        "429": "Over the rate limit (STUDIO_API_RATE); see Retry-After.",
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            scope = operation.get("x-scope")
            # ninja keys responses by int; the document's keys are strings.
            responses = {str(status): value for status, value in operation.get("responses", {}).items()}
            operation["responses"] = responses
            if scope:
                operation["security"] = [{"BearerToken": [scope]}, {"SessionCookie": []}]
                note = f"Needs the `{scope}` scope."
                operation["description"] = f"{operation.get('description', '')}\n\n{note}".strip()
                for status, description in common.items():
                    responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = problem_ref
            if method == "post" and not path.endswith("/problems/{slug}"):
                operation.setdefault("parameters", []).append(
                    {
                        "in": "header",
                        "name": "Idempotency-Key",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 255},
                        "description": "Retries with the same key get the first response instead of "
                        "running again (kept for STUDIO_API_IDEMPOTENCY_SECONDS).",
                    }
                )
                responses.setdefault(
                    "409", {"description": "The first request with this key is still running."}
                )
                responses["409"]["content"] = problem_ref


api = StudioAPI(
    title="Studio API",
    version="1",
    urls_namespace="api",
    description=(
        "Generate, refine, review and deliver images: the same rules as Studio's pages. Authenticate with "
        "`Authorization: Bearer <token>` (create a token on the Settings page) or the login session. Errors "
        "are RFC 9457 problem details (`application/problem+json`). POSTs accept `Idempotency-Key`; reads "
        "answer with an ETag and honour `If-None-Match`."
    ),
    docs=Swagger(settings={"persistAuthorization": False}),
    # The operations set their own scope; this default makes the docs page send the CSRF token.
    auth=[BearerToken("read"), SessionCookie("read")],
    throttle=[TokenRate()],
)
api.add_decorator(idempotent, mode="view")
api.add_decorator(conditional_get, mode="view")


@api.exception_handler(Problem)
def _problem(request: HttpRequest, exc: Problem) -> HttpResponse:
    return problem_response(request, exc)


@api.exception_handler(NinjaValidationError)
def _validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        loc = list(error.get("loc", ()))
        if not loc:  # ninja's pagination reports {"cursor": "Invalid Cursor"}
            errors += [field_error(str(name), str(message), "query") for name, message in error.items()]
            continue
        location, rest = str(loc[0]), [str(part) for part in loc[1:]]
        if location in ("body", "form") and len(rest) > 1:
            rest = rest[1:]  # the schema's parameter name, which the client never sees
        errors.append(field_error(".".join(rest) or None, str(error.get("msg", "Invalid.")), location))
    detail = "; ".join(f"{e['field']}: {e['detail']}" if e["field"] else e["detail"] for e in errors)
    return problem_response(
        request, Problem(422, detail or "Invalid request.", slug="validation-error", errors=errors)
    )


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    headers = {"Retry-After": str(math.ceil(exc.wait))} if exc.wait else {}
    detail = "Too many requests for this token; retry later."
    return problem_response(request, Problem(429, detail, slug="rate-limited", headers=headers))


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    detail = str(exc) if str(exc) != "Unauthorized" else "Send Authorization: Bearer <token>, or sign in."
    problem = Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="studio"'})
    return problem_response(request, problem)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    detail = str(exc)
    if exc.status_code == 403 and detail == "CSRF check Failed":
        detail = "CSRF check failed: send the csrftoken cookie's value in X-CSRFToken, or use a bearer token."
    return problem_response(request, Problem(exc.status_code, detail))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(request, Problem(404, str(exc) or "Not found."))


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return problem_response(request, Problem(403, str(exc) or "You may not do this."))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return problem_response(request, Problem(413, "The request body is too large."))


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    from django.db import connection

    logger.error("Database unavailable while serving %s", request.path, exc_info=exc)
    connection.close_if_unusable_or_obsolete()
    problem = Problem(503, "The database is unavailable; retry shortly.", headers={"Retry-After": "10"})
    return problem_response(request, problem)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.error("API error on %s %s", request.method, request.path, exc_info=exc)
    return problem_response(request, Problem(500, "Something went wrong on Studio's side; it is logged."))


class ProblemTypeOut(Schema):
    type: str
    status: int
    title: str
    description: str


@api.get("/problems/{slug}", response=ProblemTypeOut, auth=None, tags=["problems"], summary="Problem type")
def problem_type_detail(request: HttpRequest, slug: str) -> dict:
    """What a problem `type` means."""
    if slug not in PROBLEM_TYPES:
        raise not_found("problem type")
    status, title, description = PROBLEM_TYPES[slug]
    return {"type": problem_type(slug), "status": status, "title": title, "description": description}


# --- Schemas made from Django forms ------------------------------------------------------------------------


def _json_type(field: forms.Field) -> Any:
    """The JSON type a form field takes; the field's own cleaning does everything else."""
    if isinstance(field, forms.TypedChoiceField) and field.coerce in (int, float):
        return field.coerce
    if isinstance(field, forms.MultipleChoiceField):
        return list[str]
    for field_type, json_type in (
        (forms.BooleanField, bool),
        (forms.IntegerField, int),
        (forms.FloatField, float),
    ):
        if isinstance(field, field_type):
            return json_type
    return str


def form_schema(
    form_class: type[forms.Form], name: str, *, exclude: Iterable[str] = (), extra: dict | None = None
) -> type[Schema]:
    """A request schema for ``form_class``: JSON types and the form's documented limits, every field optional.

    The form still does all the checking (the schema only says what JSON type each field is), so the API and
    the page refuse the same things with the same messages; omitted fields take the form's initial value.
    """
    fields: dict[str, Any] = {}
    for field_name, field in form_class.base_fields.items():
        if field_name in exclude:
            continue
        documented: dict[str, Any] = {}
        for attribute, keyword in (
            ("min_value", "minimum"),
            ("max_value", "maximum"),
            ("max_length", "maxLength"),
        ):
            value = getattr(field, attribute, None)
            if value is not None:
                documented[keyword] = value
        if isinstance(field, forms.DateTimeField):
            documented["format"] = "date-time"
        if field.initial is not None and not callable(field.initial):
            documented["default"] = field.initial
        description = " ".join(str(part) for part in (field.label or "", field.help_text or "") if part)
        fields[field_name] = (
            _json_type(field) | None,
            Field(default=None, description=description or None, json_schema_extra=documented or None),
        )
    fields.update(extra or {})

    def document_required(schema: dict) -> None:
        # Made when the document is, not at import: the form reads the model registry, which the system
        # checks must be able to report on first. A field whose initial value the form sets when it is made
        # (the default model's steps) is optional.
        made = form_class()
        required = [
            name
            for name, field in made.fields.items()
            if name in fields and field.required and field.initial is None
        ]
        if required:
            schema["required"] = required
        # Choices too, as the made form has them (the registry's models and sizes). Not a multiple choice's:
        # those are channel presets, which admins change while the document stays cached.
        for name, field in made.fields.items():
            if name in fields and type(field) is forms.ChoiceField and field.choices:
                # Choices are (value, label) pairs; the stub types the getter as the setter's input.
                choices = [value for value, _label in field.choices]  # type: ignore[union-attr]
                schema["properties"][name]["enum"] = choices

    base = type(
        f"{name}Base",
        (Schema,),
        {
            "__module__": __name__,
            "__doc__": form_class.__doc__,
            "model_config": ConfigDict(json_schema_extra=document_required),
        },
    )
    return create_model(name, __base__=base, __module__=__name__, **fields)


def form_data(form_class: type[forms.BaseForm], payload: Schema, **form_kwargs: Any) -> dict:
    """The payload as form data: the form's initial values for what was left out, then what was sent."""
    unbound = form_class(**form_kwargs)
    data = {
        name: unbound.get_initial_for_field(field, name)
        for name, field in unbound.fields.items()
        if unbound.get_initial_for_field(field, name) is not None
    }
    data.update({name: value for name, value in payload.model_dump().items() if value is not None})
    return data


def not_found_view(request: HttpRequest) -> HttpResponse:
    """Any other path under /api/v1/: a problem-details 404 rather than the HTML page."""
    return problem_response(request, Problem(404, f"No API endpoint at {request.path}; see /api/v1/docs."))


# --- Mounting ----------------------------------------------------------------------------------------------


def _method_not_allowed_as_problem(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    # Ninja answers a method a path does not take before any operation runs, in plain text.
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if response.status_code != 405 or response.get("Content-Type") == PROBLEM_CONTENT_TYPE:
            return response
        allowed = response.get("Allow", "")
        problem = Problem(
            405, f"{request.method} is not allowed here; use {allowed}.", headers={"Allow": allowed}
        )
        return problem_response(request, problem)

    return wrapper


@functools.cache
def urls():
    """The routers of each app, mounted once (imported here, not at the top, so an app's api module can
    import this one)."""
    api.add_router("", "generation.api.router")
    api.add_router("", "review.api.router")
    api.add_router("", "delivery.api.router")
    api.add_router("", "studio.webhooks.api.router")
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = _method_not_allowed_as_problem(pattern.callback)
    return patterns, app_name, namespace
