"""C2PA content credentials on what Studio writes: generated and refined PNGs, uploads that arrive with
credentials, the signer's certificate. Everything is read back with the SDK's own Reader."""

import hashlib
import io
import json
import logging
import stat
import struct
import zlib

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier
from django.core.files.storage import default_storage
from PIL import Image

from generation import credentials
from generation import operations as ops
from generation.asset_imports import asset_import
from generation.disclosure import TRAINED_ALGORITHMIC_MEDIA
from generation.imagefile import read_png_parameters
from generation.models import Asset, GenerationRequest
from generation.services import generation_request_complete

C2PA_CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")


def stored(asset: Asset) -> bytes:
    with default_storage.open(asset.file.name, "rb") as handle:
        return handle.read()


def manifest_store(data: bytes, mime: str = "image/png") -> dict:
    with c2pa.Reader(mime, io.BytesIO(data)) as reader:
        return json.loads(reader.json())


def active(store: dict) -> dict:
    return store["manifests"][store["active_manifest"]]


def actions(manifest: dict) -> list[dict]:
    return [
        action
        for assertion in manifest["assertions"]
        if assertion["label"].startswith("c2pa.actions")
        for action in assertion["data"]["actions"]
    ]


def failures(store: dict) -> set[str]:
    return {entry["code"] for entry in store["validation_results"]["activeManifest"].get("failure", [])}


def tamper_with_pixels(png: bytes) -> bytes:
    """The same PNG with one byte of image data changed and its chunk CRC fixed, so it still decodes."""
    position = 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        if kind == b"IDAT":
            body = bytearray(png[position + 8 : position + 8 + length])
            body[length // 2] ^= 0x01
            crc = struct.pack(">I", zlib.crc32(kind + bytes(body)) & 0xFFFFFFFF)
            return png[: position + 8] + bytes(body) + crc + png[position + 12 + length :]
        position += 12 + length
    raise AssertionError("no IDAT chunk")


@pytest.fixture
def refine(marketer):
    """Complete a refine request on ``source`` as the worker would."""

    def run(source: Asset, operation: str = ops.REPLACE_BACKGROUND) -> Asset:
        request = GenerationRequest.objects.create(
            created_by=marketer,
            operation=operation,
            prompt="on a beach",
            full_prompt="on a beach",
            model_key="tiny",
            model_source="/srv/studio/models/tiny",
            width=source.width,
            height=source.height,
            seed=9,
            steps=2,
            guidance=5.0,
            source_asset=source,
            status=GenerationRequest.Status.RUNNING,
        )
        image = Image.new("RGB", (source.width, source.height), (20, 120, 200))
        [asset] = generation_request_complete(generation_request=request, images=[image], seeds=[9])
        return asset

    return run


def test_a_generated_image_carries_a_valid_manifest_saying_studio_created_it_with_the_model(make_asset):
    asset = make_asset()
    data = stored(asset)

    store = manifest_store(data)
    manifest = active(store)
    [created] = actions(manifest)
    assert store["validation_state"] == "Valid"  # intact; the development signer is not a trusted one
    assert failures(store) == {"signingCredential.untrusted"}
    assert manifest["claim_generator_info"][0]["name"] == "Studio"
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"]["name"] == "tiny"
    assert "thumbnail" not in manifest
    assert asset.content_hash == hashlib.sha256(data).hexdigest()
    assert asset.byte_size == len(data)


def test_the_parameters_chunk_and_the_ai_disclosure_xmp_stay_beside_the_manifest(make_asset):
    data = stored(make_asset(prompt="a lighthouse at dusk"))

    assert read_png_parameters(data)["prompt"] == "a lighthouse at dusk"
    with Image.open(io.BytesIO(data)) as image:
        assert TRAINED_ALGORITHMIC_MEDIA in image.info["XML:com.adobe.xmp"]
    assert b"a lighthouse" not in json.dumps(manifest_store(data)).encode(), "prompts stay out of manifests"


def test_a_refined_image_is_an_edit_with_its_parent_file_as_ingredient(make_asset, refine):
    parent = make_asset()
    child = refine(parent)

    store = manifest_store(stored(child))
    manifest = active(store)
    opened, edited = actions(manifest)
    [ingredient] = manifest["ingredients"]
    assert store["validation_state"] == "Valid"
    assert opened["action"] == "c2pa.opened"
    assert edited["action"] == "c2pa.edited"
    assert edited["description"] == "background replaced"
    assert edited["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert edited["softwareAgent"] == {
        "name": "tiny",
        "version": "tiny",
    }  # a path's last part, never the path
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["title"] == f"studio-asset-{parent.pk}.png"
    # The parent's own manifest travels with it: the whole history reads back from the child's file.
    [parent_created] = actions(store["manifests"][ingredient["active_manifest"]])
    assert parent_created["action"] == "c2pa.created"


def test_read_puts_the_credentials_into_words(make_asset, refine):
    child = refine(make_asset())

    found = credentials.read(stored(child), format="png")

    assert found is not None and found.intact and not found.trusted
    assert found.development_signer
    assert found.summary == "edited: background replaced (model tiny), AI-generated"
    [ingredient] = found.ingredients
    assert ingredient.summary == "created by Studio with model tiny, AI-generated"


def test_a_tampered_file_fails_validation(make_asset):
    tampered = tamper_with_pixels(stored(make_asset()))

    store = manifest_store(tampered)
    found = credentials.read(tampered, format="png")

    assert store["validation_state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in failures(store)
    assert found is not None and not found.intact
    assert any(problem.startswith("assertion.dataHash.mismatch") for problem in found.problems)


def test_with_credentials_off_images_are_written_as_before(make_asset, settings):
    settings.STUDIO_C2PA = False

    data = stored(make_asset(prompt="a quiet harbour"))

    assert c2pa.Reader.try_create("image/png", io.BytesIO(data)) is None
    assert credentials.read(data, format="png") is None
    assert read_png_parameters(data)["prompt"] == "a quiet harbour"
    with Image.open(io.BytesIO(data)) as image:
        assert TRAINED_ALGORITHMIC_MEDIA in image.info["XML:com.adobe.xmp"]


def test_a_signer_that_fails_fails_the_write_and_stores_nothing(make_asset, settings, media_root):
    settings.STUDIO_C2PA_CERT = "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"
    settings.STUDIO_C2PA_KEY = "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n"

    with pytest.raises(credentials.CredentialsError):
        make_asset()

    assert not Asset.objects.exists()
    assert not [path for path in media_root.rglob("*") if path.is_file()]


def test_the_development_chain_is_made_once_with_the_c2pa_key_usages_and_a_private_key(tmp_path):
    folder = tmp_path / "c2pa"

    chain, key = credentials.development_chain(folder)

    assert credentials.development_chain(folder) == (chain, key), "made once, then reused"
    assert stat.S_IMODE((folder / "signer.key").stat().st_mode) == 0o600
    signer, root = x509.load_pem_x509_certificates(chain)
    assert signer.issuer == root.subject
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not signer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert signer.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    usages = set(signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert {C2PA_CLAIM_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION} <= usages
    assert b"PRIVATE KEY" in key


def test_a_configured_signer_is_used_and_trust_anchors_make_it_trusted(tmp_path, settings, make_asset):
    chain, key = credentials.development_chain(tmp_path / "organisation")
    _, root = x509.load_pem_x509_certificates(chain)
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(root.public_bytes(Encoding.PEM))
    settings.STUDIO_C2PA_CERT = str(tmp_path / "organisation" / "chain.pem")
    settings.STUDIO_C2PA_KEY = key.decode()  # PEM in the setting itself works as well as a path
    settings.STUDIO_C2PA_TRUST_ANCHORS = str(anchors)

    found = credentials.read(stored(make_asset()), format="png")

    assert found is not None and found.trusted
    assert not credentials.signer_is_development()


def test_an_unreachable_timestamp_authority_does_not_stop_signing(settings, make_asset, caplog):
    settings.STUDIO_C2PA_TSA_URL = "http://127.0.0.1:9/tsa"  # nothing listens on the discard port

    with caplog.at_level(logging.WARNING, logger="generation.credentials"):
        asset = make_asset()

    assert manifest_store(stored(asset))["validation_state"] == "Valid"
    assert "signing without a timestamp" in caplog.text


def _jpeg_with_foreign_credentials() -> bytes:
    """A JPEG with EXIF, signed by another tool, as a camera or an editor would deliver it."""
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    Image.new("RGB", (80, 60), (90, 160, 60)).save(buffer, format="JPEG", exif=exif.tobytes())
    return credentials.sign(
        buffer.getvalue(),
        format="jpg",
        title="IMG_0001.jpg",
        actions=[
            credentials.Action(
                "c2pa.created",
                software_agent={"name": "Camera app"},
                source_type="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
            )
        ],
    )


def test_an_upload_with_credentials_keeps_them_as_the_ingredient_of_studios_manifest(marketer):
    original = _jpeg_with_foreign_credentials()

    asset = asset_import(
        data=original, filename="IMG_0001.jpg", user=marketer, operation=Asset.Operation.UPLOAD
    )

    data = stored(asset)
    store = manifest_store(data, "image/jpeg")
    manifest = active(store)
    opened, transcoded = actions(manifest)
    [ingredient] = manifest["ingredients"]
    [created] = actions(store["manifests"][ingredient["active_manifest"]])
    assert store["validation_state"] == "Valid"
    assert (opened["action"], transcoded["action"]) == ("c2pa.opened", "c2pa.transcoded")
    assert ingredient["relationship"] == "parentOf"
    assert created["softwareAgent"]["name"] == "Camera app"
    with Image.open(io.BytesIO(data)) as image:
        assert not image.getexif(), "the cleaning still drops EXIF"
    assert asset.content_hash == hashlib.sha256(data).hexdigest()


def test_an_upload_without_credentials_is_stored_without_any(marketer):
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (90, 160, 60)).save(buffer, format="JPEG")

    asset = asset_import(data=buffer.getvalue(), filename="plain.jpg", user=marketer)

    assert credentials.read(stored(asset), format="jpg") is None


def test_the_system_check_catches_a_signer_that_cannot_sign(settings):
    assert credentials.check_signer() == []

    settings.STUDIO_C2PA_CERT = "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"
    settings.STUDIO_C2PA_KEY = "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n"
    [error] = credentials.check_signer()

    assert error.id == "generation.E010"
    settings.STUDIO_C2PA = False
    assert credentials.check_signer() == []
