"""Channel presets are validated when saved, and a bad one already in the database never breaks a page."""

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.urls import reverse

from delivery.models import NamedPreset


def preset(**fields) -> NamedPreset:
    values = {
        "name": "banner",
        "label": "Banner",
        "transformation": "c_fill,w_600,h_200",
        "widths": "300,600",
    }
    return NamedPreset(**{**values, **fields})


def problems_on_save(**fields) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        preset(**fields).full_clean()
    return raised.value.message_dict


@pytest.mark.django_db
def test_a_valid_preset_passes_validation():
    preset().full_clean()


def test_the_shipped_channel_presets_are_valid(channel_presets):
    presets = NamedPreset.objects.all()
    assert presets and {p.name: p.problems() for p in presets} == {p.name: {} for p in presets}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"transformation": "c_fill,w_abc"}, "transformation", "w_ must be whole pixels"),
        ({"transformation": "c_blob,w_100"}, "transformation", "unknown crop mode 'blob'"),
        ({"transformation": "t_preview/c_scale,w_100"}, "transformation", "cannot refer to another preset"),
        (
            {"transformation": "c_fill,w_5000,h_100"},
            "transformation",
            "5000 pixels wide, over the limit of 4096",
        ),
        ({"transformation": "c_scale,h_3000,dpr_2.0"}, "transformation", "6000 pixels high"),
        ({"transformation": "c_fill,w_3000,ar_1:2"}, "transformation", "6000 pixels high"),
        ({"widths": "480,wide"}, "widths", "'wide' is not a width"),
        ({"widths": "480,9000"}, "widths", "from 1 to 4096"),
    ],
)
def test_a_preset_that_cannot_be_served_is_refused_with_the_reason(fields, field, reason):
    assert reason in " ".join(problems_on_save(**fields)[field])


@pytest.mark.django_db
def test_a_preset_over_the_pixel_limit_is_refused(settings):
    settings.STUDIO_DELIVERY_MAX_PIXELS = 1_000_000
    [reason] = problems_on_save(transformation="c_fill,w_2000,h_1000")["transformation"]
    assert reason == "c_fill,h_1000,w_2000 is 2000x1000 pixels, over the limit of 1000000 in all"


@pytest.mark.django_db
def test_a_preset_name_must_work_in_t_name():
    assert "name" in problems_on_save(name="no spaces")


@pytest.mark.django_db
def test_the_admin_shows_the_parsers_reason_and_saves_nothing(client, admin_user):
    client.force_login(admin_user)
    form = {"name": "banner", "label": "Banner", "transformation": "c_fill,g_auto", "widths": "600"}
    response = client.post(reverse("admin:delivery_namedpreset_add"), form)
    assert response.status_code == 200
    assert "c_fill needs a size" in response.content.decode()
    assert not NamedPreset.objects.filter(name="banner").exists()

    response = client.post(
        reverse("admin:delivery_namedpreset_add"), {**form, "transformation": "c_fill,w_600,h_200"}
    )
    assert response.status_code == 302
    assert NamedPreset.objects.filter(name="banner").exists()


@pytest.mark.django_db
def test_the_admin_list_names_the_problem_of_a_preset_saved_around_it(client, admin_user):
    NamedPreset.objects.create(name="broken", label="Broken", transformation="c_fill,w_abc")
    client.force_login(admin_user)
    response = client.get(reverse("admin:delivery_namedpreset_changelist"))
    assert response.status_code == 200
    assert "w_ must be whole pixels" in response.content.decode()


# --- a bad preset already in the database ----------------------------------------------------------------


@pytest.fixture
def broken_preset(approved):
    """An invalid preset written around validation, as SQL or an older version could have."""
    NamedPreset.objects.create(name="broken", label="Broken", transformation="c_fill,w_abc", widths="100")
    NamedPreset.objects.filter(name="preview").update(transformation="c_limit,w_320,q_auto:eco/t_story")
    return approved


def test_the_asset_page_still_loads_and_skips_the_bad_presets(client, reviewer, broken_preset, caplog):
    asset, _ = broken_preset
    client.force_login(reviewer)
    response = client.get(reverse("review:asset", args=[asset.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "/t_social-square/" in page, "the good presets are still there"
    assert "/t_broken/" not in page and "/t_preview/" not in page
    assert "is not shown" not in page, "the note is for staff"
    assert "skipping named preset 'broken'" in caplog.text
    assert "skipping named preset 'preview'" in caplog.text


def test_staff_see_which_preset_was_skipped_and_why(client, admin_user, broken_preset):
    asset, _ = broken_preset
    client.force_login(admin_user)
    response = client.get(reverse("review:asset", args=[asset.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<code>t_broken</code> is not shown: w_ must be whole pixels" in page
    assert "<code>t_preview</code> is not shown" in page
    assert (
        reverse("admin:delivery_namedpreset_change", args=[NamedPreset.objects.get(name="broken").pk]) in page
    )


def test_the_template_tags_skip_a_bad_preset(broken_preset, admin_user, rf, caplog):
    _, public_id = broken_preset
    template = Template(
        '{% load delivery_tags %}{% picture pid "broken" %}|{% responsive_image pid "broken" %}'
    )
    assert template.render(Context({"pid": public_id})) == "|"
    assert "named preset 'broken' cannot be served" in caplog.text

    request = rf.get("/")
    request.user = admin_user
    staff_markup = template.render(Context({"pid": public_id, "request": request}))
    assert staff_markup.count("Named preset t_broken is not shown: w_ must be whole pixels") == 2


def test_the_delivery_url_of_a_bad_preset_is_a_400_with_the_reason(client, broken_preset):
    _, public_id = broken_preset
    response = client.get(f"/image/upload/t_broken/{public_id}.jpg")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert "named preset 'broken' is invalid: w_ must be whole pixels" in response.content.decode()
    response = client.get(f"/image/upload/t_preview/{public_id}.jpg")
    assert response.status_code == 400
    assert "cannot refer to another preset" in response.content.decode()
