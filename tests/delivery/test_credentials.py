"""Delivered variants carry C2PA content credentials: what the transformation did, with the approved asset as
the ingredient, signed once at render time, read back from the bytes a site gets."""

import io
import json
import logging

import c2pa
import pytest
from django.urls import reverse
from PIL import Image

from delivery.geometry import SourceInfo, edit_actions, plan
from delivery.signing import signed_path
from delivery.transformations import parse_delivery_path
from generation import credentials

MIME = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}


def fetch(client, settings, path: str):
    response = client.get(reverse("delivery:serve", args=[signed_path(path, settings.STUDIO_DELIVERY_KEYS)]))
    assert response.status_code == 200, response.content
    return response


def manifest_store(data: bytes, fmt: str) -> dict:
    with c2pa.Reader(MIME[fmt], io.BytesIO(data)) as reader:
        return json.loads(reader.json())


def active_actions(store: dict) -> list[str]:
    manifest = store["manifests"][store["active_manifest"]]
    return [
        action["action"]
        for assertion in manifest["assertions"]
        if assertion["label"].startswith("c2pa.actions")
        for action in assertion["data"]["actions"]
    ]


def test_a_variant_carries_credentials_with_the_approved_asset_as_ingredient(client, settings, approved):
    _, public_id = approved

    response = fetch(client, settings, f"c_fill,w_100,h_100/{public_id}.jpg")

    store = manifest_store(response.content, "jpg")
    manifest = store["manifests"][store["active_manifest"]]
    [ingredient] = manifest["ingredients"]
    assert store["validation_state"] == "Valid"
    assert active_actions(store) == ["c2pa.opened", "c2pa.resized", "c2pa.cropped", "c2pa.transcoded"]
    assert manifest["claim_generator_info"][0]["name"] == "Studio"
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["title"] == f"{public_id}.png"
    # The approved master's own manifest (Studio made it with the model) comes along with it.
    assert active_actions(
        {"manifests": store["manifests"], "active_manifest": ingredient["active_manifest"]}
    ) == ["c2pa.created"]
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.size == (100, 100)


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "avif"])
def test_every_format_delivery_writes_carries_valid_credentials(client, settings, approved, fmt):
    _, public_id = approved

    response = fetch(client, settings, f"c_scale,w_64/{public_id}.{fmt}")

    store = manifest_store(response.content, fmt)
    expected = ["c2pa.opened", "c2pa.resized"] + (["c2pa.transcoded"] if fmt != "png" else [])
    assert store["validation_state"] == "Valid"
    assert active_actions(store) == expected
    found = credentials.read(response.content, format=fmt)
    assert found is not None and found.intact and found.ingredients[0].summary.startswith("created by Studio")


def test_a_variant_still_carries_the_ai_disclosure_and_nothing_else(client, settings, approved):
    _, public_id = approved

    response = fetch(client, settings, f"c_scale,w_64/{public_id}.png")

    with Image.open(io.BytesIO(response.content)) as image:
        assert "trainedAlgorithmicMedia" in image.info["XML:com.adobe.xmp"]
        assert "parameters" not in image.info and "studio" not in image.info, "the prompt stays in the master"


def test_a_cached_variant_is_served_without_signing_again(client, settings, approved, monkeypatch):
    _, public_id = approved
    calls = []
    real_sign = credentials.sign
    monkeypatch.setattr(
        credentials, "sign", lambda *args, **kwargs: calls.append(1) or real_sign(*args, **kwargs)
    )

    first = fetch(client, settings, f"c_scale,w_80/{public_id}.webp")
    again = fetch(client, settings, f"c_scale,w_80/{public_id}.webp")

    assert len(calls) == 1
    assert again.content == first.content


def test_with_credentials_off_variants_are_rendered_without_them(client, settings, approved):
    _, public_id = approved
    settings.STUDIO_C2PA = False

    response = fetch(client, settings, f"c_scale,w_90/{public_id}.jpg")

    assert c2pa.Reader.try_create("image/jpeg", io.BytesIO(response.content)) is None
    assert b"trainedAlgorithmicMedia" in response.content


def test_a_variant_whose_signing_fails_is_served_without_credentials_and_logged(
    client, settings, approved, monkeypatch, caplog
):
    _, public_id = approved

    def failing_sign(*args, **kwargs):
        raise credentials.CredentialsError("signing failed: the HSM is away")

    monkeypatch.setattr(credentials, "sign", failing_sign)
    with caplog.at_level(logging.ERROR, logger="delivery.services"):
        response = fetch(client, settings, f"c_scale,w_70/{public_id}.jpg")

    assert c2pa.Reader.try_create("image/jpeg", io.BytesIO(response.content)) is None
    assert "served without content credentials" in caplog.text


@pytest.mark.parametrize(
    ("transformation", "output", "expected"),
    [
        ("c_scale,w_100", "png", ["c2pa.resized"]),
        ("c_crop,w_100,h_100", "png", ["c2pa.cropped"]),
        ("c_fill,w_100,h_100", "jpg", ["c2pa.resized", "c2pa.cropped", "c2pa.transcoded"]),
        ("c_pad,w_400,h_400", "png", ["c2pa.resized", "c2pa.resized"]),  # scaled, then padded
        ("c_limit,w_1000", "png", ["c2pa.transcoded"]),  # nothing to do but re-encode
        ("q_50", "webp", ["c2pa.transcoded"]),
    ],
)
def test_the_actions_follow_the_transformation(transformation, output, expected):
    chain = parse_delivery_path(f"{transformation}/x.{output}").components
    source = SourceInfo(width=256, height=192, pages=1, format="png", has_alpha=False)

    actions = edit_actions(plan(chain, 256, 192), source, output)

    assert [action for action, _ in actions] == expected
    assert all(description for _, description in actions)
