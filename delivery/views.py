from django.http import HttpRequest, HttpResponse


def serve(request: HttpRequest, delivery_path: str) -> HttpResponse:  # replaced below once the core lands
    raise NotImplementedError
