"""Studio's URLs plus ``/minimal/<storage name>``: read the file from the default storage and return it,
with nothing else (no lookup, no parsing). The delivery benchmark compares Studio's cached hits to this."""

import mimetypes

from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def minimal(request: HttpRequest, name: str) -> HttpResponse:
    with default_storage.open(name, "rb") as handle:
        data = handle.read()
    return HttpResponse(data, content_type=mimetypes.guess_type(name)[0] or "application/octet-stream")


urlpatterns = [path("minimal/<path:name>", minimal), path("", include("studio.urls"))]
