"""Bad input gets a clear 4xx and changes nothing; it never gets a 500."""

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from delivery.models import Variant
from generation.models import GenerationRequest
from tests.conftest import checklist_all

PATH_ALPHABET = st.sampled_from(
    [*list("abcwhgqfx_,:./-0123456789"), "c_fill", "w_", "t_", "s--", "v1", "%00", "..", "é"]
)


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.lists(PATH_ALPHABET, min_size=1, max_size=30).map("".join))
def test_any_delivery_path_is_answered_without_a_server_error(channel_presets, path):
    response = Client().get("/image/upload/" + path)
    assert response.status_code in {400, 403, 404, 405}, (path, response.status_code, response.content[:200])
    assert response["Content-Type"].startswith("text/plain")
    assert not Variant.objects.exists()


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            name: st.text(max_size=30)
            for name in [
                "prompt",
                "style",
                "model",
                "size",
                "width",
                "height",
                "num_images",
                "seed",
                "steps",
                "guidance",
            ]
        },
    )
)
def test_any_generate_form_input_is_accepted_or_a_400(client, marketer, no_enqueue, fields):
    client.force_login(marketer)
    before = GenerationRequest.objects.count()
    response = client.post(reverse("generation:create"), fields)
    assert response.status_code in {302, 400}
    if response.status_code == 400:
        assert GenerationRequest.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/requests/999999/", "/assets/999999/file/", "/review/assets/999999/"])
def test_unknown_objects_are_404_not_500(client, reviewer, url):
    client.force_login(reviewer)
    assert client.get(url).status_code == 404


PARAMETER = st.one_of(
    st.sampled_from(
        [
            "c_" + mode
            for mode in [
                "scale",
                "fit",
                "limit",
                "mfit",
                "fill",
                "lfill",
                "pad",
                "lpad",
                "mpad",
                "crop",
                "thumb",
                "zoom",
            ]
        ]
    ),
    st.sampled_from(["g_auto", "g_face", "g_north", "g_south_east", "g_center", "g_bogus"]),
    st.builds("w_{}".format, st.one_of(st.integers(-5, 5000), st.sampled_from(["0.5", "1.0", "1.5", "abc"]))),
    st.builds("h_{}".format, st.one_of(st.integers(-5, 5000), st.sampled_from(["0.25", "2.0", ""]))),
    st.sampled_from(
        [
            "ar_16:9",
            "ar_1.5",
            "ar_0:1",
            "dpr_2",
            "dpr_9",
            "x_10",
            "y_-3",
            "b_white",
            "b_rgb:ff00ff",
            "b_rgb:zz",
            "f_auto",
            "f_png",
            "f_gif",
            "q_auto:eco",
            "q_101",
            "q_50",
            "t_og-image",
        ]
    ),
)
TRANSFORMATION = st.lists(
    st.lists(PARAMETER, min_size=1, max_size=4).map(",".join), min_size=1, max_size=3
).map("/".join)


@pytest.fixture
def approved_public_id(make_asset, reviewer, channel_presets, django_capture_on_commit_callbacks) -> str:
    from review.decisions import asset_review_decide

    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset(size=(120, 80))
    return asset_review_decide(
        asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()
    ).public_id


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    transformation=TRANSFORMATION, extension=st.sampled_from(["", ".jpg", ".png", ".webp", ".avif", ".gif"])
)
def test_any_transformation_of_an_approved_image_renders_or_is_a_400(
    approved_public_id, settings, transformation, extension
):
    settings.STUDIO_DELIVERY_STRICT = False
    settings.STUDIO_DELIVERY_RENDER_RATE = ""  # every example is a cold render from one address
    url = f"/image/upload/{transformation}/{approved_public_id}{extension}"
    response = Client().get(url, HTTP_ACCEPT="image/webp")
    assert response.status_code in {200, 400}, (url, response.status_code, response.content[:200])
    expected = "image/" if response.status_code == 200 else "text/plain"
    assert response["Content-Type"].startswith(expected)
