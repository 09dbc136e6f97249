from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if request.user.has_perm("review.decide_assetreview") and not request.user.has_perm(
        "generation.add_generationrequest"
    ):
        return redirect("review:queue")
    return redirect("generation:create")
