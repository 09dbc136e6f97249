"""URL signatures: round trip, key rotation, tampering."""

import pytest

from delivery.signing import SIGNATURE_LENGTH, sign_path, signed_path, verify
from delivery.transformations import parse_delivery_path

PATH = "c_fill,g_auto,w_1200,h_630/f_webp,q_80/v3/campaign/hero.jpg"
NEW, OLD = "new-key-0123456789abcdef", b"old-key-fedcba9876543210"


def test_a_signature_verifies_for_the_path_it_was_made_for() -> None:
    signature = sign_path(PATH, [NEW])
    assert len(signature) == SIGNATURE_LENGTH
    assert verify(signature, PATH, [NEW])


def test_signatures_are_url_safe_and_fit_the_grammar() -> None:
    url_path = signed_path(PATH, [NEW])
    request = parse_delivery_path(url_path)
    assert request.signed_path == PATH
    assert verify(request.signature, request.signed_path, [NEW])


def test_the_newest_key_signs_and_every_key_verifies() -> None:
    assert sign_path(PATH, [NEW, OLD]) == sign_path(PATH, [NEW])
    made_with_old_key = sign_path(PATH, [OLD])
    assert verify(made_with_old_key, PATH, [NEW, OLD])
    assert not verify(made_with_old_key, PATH, [NEW])  # once the old key is dropped


@pytest.mark.parametrize(
    "tampered",
    [
        PATH.replace("w_1200", "w_1201"),
        PATH.replace("hero", "other"),
        PATH.replace("v3", "v4"),
        PATH + "x",
        "/" + PATH,
    ],
)
def test_a_changed_path_does_not_verify(tampered: str) -> None:
    assert not verify(sign_path(PATH, [NEW]), tampered, [NEW])


def test_a_changed_signature_does_not_verify() -> None:
    signature = sign_path(PATH, [NEW])
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not verify(flipped, PATH, [NEW])
    assert not verify(signature[:-1], PATH, [NEW])
    assert not verify(signature + "A", PATH, [NEW])


@pytest.mark.parametrize("signature", [None, "", "é" * 24, "s--x--"])
def test_bad_signature_values_are_false_not_errors(signature: str | None) -> None:
    assert not verify(signature, PATH, [NEW])


def test_no_keys_verifies_nothing_and_cannot_sign() -> None:
    assert not verify(sign_path(PATH, [NEW]), PATH, [])
    with pytest.raises(ValueError, match="no signing key"):
        sign_path(PATH, [])


def test_an_empty_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="empty signing key"):
        sign_path(PATH, [""])


def test_different_keys_give_different_signatures() -> None:
    assert sign_path(PATH, [NEW]) != sign_path(PATH, [OLD])
