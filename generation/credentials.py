"""Content credentials (C2PA): signing what Studio writes, and reading what a file carries.

One module for every writer that embeds the AI-disclosure mark: generated and refined PNGs
(:func:`signed_png`, wrapping :func:`generation.imagefile.encode_png`), uploads that arrive with credentials
(:func:`keep_upload_credentials`) and delivery's variants (:func:`sign`, called on the renderer's bytes).
Delivery imports it; it imports nothing from delivery or review.

What goes into a manifest: Studio as the claim generator; one actions assertion (``c2pa.created`` for text
to image, ``c2pa.opened`` on the parent plus ``c2pa.edited`` for a refinement, ``c2pa.resized`` /
``c2pa.cropped`` / ``c2pa.transcoded`` for a variant) with IPTC's ``trainedAlgorithmicMedia`` source type and
the model as the software agent; the parent file as a ``parentOf`` ingredient, so its own manifest rides
along. Never the prompt: delivered variants carry their master's manifest as an ingredient, and prompts are
often confidential. No thumbnail either (on a noisy 1024x1024 PNG the SDK's JPEG thumbnail is over 1 MB).

Signing needs no network: no timestamp authority unless ``STUDIO_C2PA_TSA_URL`` is set, and reading never
fetches remote manifests or OCSP responses (an uploaded file must not make the server call out).
"""

import datetime
import functools
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePath

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from django.conf import settings
from django.core.cache import cache
from django.core.checks import CheckMessage, Error
from PIL import Image

from generation import operations as ops
from generation.disclosure import TRAINED_ALGORITHMIC_MEDIA, declared_source_type
from generation.engine.registry import UnknownModelError, get_model
from generation.imagefile import EncodedImage, encode_png
from generation.models import Asset, GenerationRequest
from generation.selectors import asset_read_bytes

__all__ = [
    "MIME_TYPES",
    "Action",
    "Credentials",
    "CredentialsError",
    "Ingredient",
    "ModelVersion",
    "asset_credentials",
    "check_signer",
    "development_chain",
    "enabled",
    "has_manifest",
    "keep_upload_credentials",
    "read",
    "refinement_actions",
    "request_provenance",
    "sign",
    "signed_png",
    "signer_is_development",
]

logger = logging.getLogger(__name__)

CLAIM_GENERATOR = "Studio"
# The formats delivery and storage write; c2pa-python 0.38.1 (c2pa-rs 0.91) signs and reads all four.
MIME_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}
DEVELOPMENT_SIGNER_NAME = "Studio development signer (not trusted)"
_DEVELOPMENT_ROOT_NAME = "Studio development root (not trusted)"
# Extended key usages the C2PA certificate profile accepts for a claim signer: documentSigning and
# C2PA's own claimSigning (emailProtection would do too).
_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
_C2PA_CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
_PARENT_LABEL = "parent"
# Past-tense descriptions for the asset page ("edited: background replaced").
_EDIT_DESCRIPTIONS = {
    ops.IMG2IMG: "redrawn from a prompt",
    ops.INPAINT: "area repainted",
    ops.REMOVE: "object removed",
    ops.REPLACE_BACKGROUND: "background replaced",
    ops.OUTPAINT: "extended",
    ops.RECOLOR: "recoloured",
    ops.UPSCALE: "upscaled",
    ops.RESTORE: "restored",
    ops.VARIATIONS: "variation",
}
_ACTION_WORDS = {
    "c2pa.created": "created",
    "c2pa.edited": "edited",
    "c2pa.opened": "opened",
    "c2pa.resized": "resized",
    "c2pa.cropped": "cropped",
    "c2pa.transcoded": "transcoded",
}
_READ_CACHE_SECONDS = 24 * 3600


class CredentialsError(Exception):
    """A manifest could not be made or signed; the message says why."""


@dataclass(frozen=True)
class ModelVersion:
    key: str
    source: str = ""
    revision: str = ""

    def software_agent(self) -> dict:
        agent = {"name": self.key}
        # A local path would tell every site that fetches a variant where the server keeps its models.
        source = PurePath(self.source).name if self.source.startswith(("/", ".", "~")) else self.source
        version_text = " ".join(part for part in (source, self.revision) if part)
        if version_text:
            agent["version"] = version_text
        return agent


@dataclass(frozen=True)
class Action:
    action: str  # c2pa.created, c2pa.edited, c2pa.resized, ...
    description: str = ""
    software_agent: dict | None = None
    source_type: str = ""

    def as_json(self) -> dict:
        entry: dict = {"action": self.action}
        if self.description:
            entry["description"] = self.description
        if self.software_agent:
            entry["softwareAgent"] = self.software_agent
        if self.source_type:
            entry["digitalSourceType"] = self.source_type
        return entry


@dataclass(frozen=True)
class Ingredient:
    """The file an image was made from: its bytes (with any manifest they carry), format and a title."""

    data: bytes
    format: str
    title: str


def enabled() -> bool:
    return settings.STUDIO_C2PA


# --- writing ------------------------------------------------------------------------------------------------


def sign(
    data: bytes, *, format: str, title: str, actions: Sequence[Action], parent: Ingredient | None = None
) -> bytes:
    """``data`` with a signed manifest embedded; raises :class:`CredentialsError`.

    With a ``parent``, a ``c2pa.opened`` action on it comes first, as the C2PA spec asks of a derived asset.
    """
    mime = MIME_TYPES.get(format)
    if mime is None:
        raise CredentialsError(f"content credentials are not supported for {format!r} files")
    if parent is not None and parent.format not in MIME_TYPES:
        raise CredentialsError(f"content credentials cannot name a {parent.format!r} file as an ingredient")
    listed = [action.as_json() for action in actions]
    if parent is not None:
        listed.insert(0, {"action": "c2pa.opened", "parameters": {"ingredientIds": [_PARENT_LABEL]}})
    manifest = {
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": _studio_version()}],
        "title": title,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": listed}}],
    }
    tsa_url = settings.STUDIO_C2PA_TSA_URL or None
    try:
        material = _signing_material()
        try:
            return _sign_once(data, mime, manifest, parent, material, tsa_url)
        except c2pa.C2paError as error:
            if tsa_url is None:
                raise
            # A timestamp is worth having, not worth losing the credentials over: sign without one.
            logger.warning("Timestamp authority %s failed (%s); signing without a timestamp", tsa_url, error)
        return _sign_once(data, mime, manifest, parent, material, None)
    except CredentialsError:
        raise
    except Exception as error:  # C2paError, and ValueError or TypeError for what the SDK refuses up front
        raise CredentialsError(f"signing failed: {error}") from error


def signed_png(
    image: Image.Image, parameters: dict, *, title: str, actions: Sequence[Action], parent: Ingredient | None
) -> EncodedImage:
    """:func:`encode_png` (parameters chunk and AI-disclosure XMP), then signed when credentials are on."""
    encoded = encode_png(image, parameters)
    if not enabled():
        return encoded
    data = sign(encoded.data, format="png", title=title, actions=actions, parent=parent)
    return replace(encoded, data=data, content_hash=hashlib.sha256(data).hexdigest())


def refinement_actions(*, operation: str, model: ModelVersion | None, tool: str = "") -> list[Action]:
    """What a generation request did: created from text, or edited its parent (with which model or tool)."""
    agent = model.software_agent() if model is not None else {"name": tool or CLAIM_GENERATOR}
    if operation == ops.TEXT2IMG:
        return [Action("c2pa.created", "text to image", agent, TRAINED_ALGORITHMIC_MEDIA)]
    description = _EDIT_DESCRIPTIONS.get(operation) or ops.OPERATIONS[operation].label.lower()
    return [Action("c2pa.edited", description, agent, TRAINED_ALGORITHMIC_MEDIA)]


def request_provenance(
    *, generation_request: GenerationRequest, upscaler: str = ""
) -> tuple[list[Action], Ingredient | None]:
    """The actions and parent ingredient for a generation request's images (nothing when credentials are
    off, so the parent's file is not read for nothing)."""
    if not enabled():
        return [], None
    model = None
    if generation_request.model_key:
        try:
            revision = get_model(generation_request.model_key).revision
        except UnknownModelError:  # removed from the registry since: the request still names its source
            revision = ""
        model = ModelVersion(
            key=generation_request.model_key, source=generation_request.model_source, revision=revision
        )
    tool = upscaler or f"{CLAIM_GENERATOR} {ops.OPERATIONS[generation_request.operation].label.lower()}"
    actions = refinement_actions(operation=generation_request.operation, model=model, tool=tool)
    parent = None
    source = generation_request.source_asset
    if source is not None:
        parent = Ingredient(
            data=asset_read_bytes(asset=source),
            format=source.format,
            title=f"studio-asset-{source.pk}.{source.format}",
        )
    return actions, parent


def keep_upload_credentials(*, original: bytes, cleaned: bytes, format: str, title: str) -> bytes:
    """``cleaned`` (the re-encoded upload), signed with the ``original`` as its parent when the original
    carries a manifest, so that manifest is kept as an ingredient; otherwise ``cleaned`` as it is.

    The original manifest cannot stay in the file itself: it hashes the original bytes, which Studio does
    not store (their EXIF, GPS and comments are dropped), so it would only ever read as tampered.
    """
    if not enabled() or not has_manifest(original, format=format):
        return cleaned
    action = Action("c2pa.transcoded", "re-encoded by Studio without camera metadata (EXIF, XMP, comments)")
    parent = Ingredient(data=original, format=format, title=f"original.{format}")
    return sign(cleaned, format=format, title=title, actions=[action], parent=parent)


def _sign_once(
    data: bytes, mime: str, manifest: dict, parent: Ingredient | None, material: "_Material", tsa: str | None
) -> bytes:
    info = c2pa.C2paSignerInfo(material.algorithm, material.chain, material.key, tsa)
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest, context=_context()) as builder:
        if parent is not None:
            ingredient = {"title": parent.title, "relationship": "parentOf", "label": _PARENT_LABEL}
            builder.add_ingredient(ingredient, MIME_TYPES[parent.format], io.BytesIO(parent.data))
        output = io.BytesIO()
        builder.sign(signer, mime, io.BytesIO(data), output)
        return output.getvalue()


@functools.cache
def _studio_version() -> str:
    try:
        return version("studio")
    except PackageNotFoundError:
        return "dev"


def _context() -> c2pa.Context:
    # Per process: a native handle made before a worker forks must not be used in its children.
    return _cached_context(settings.STUDIO_C2PA_TRUST_ANCHORS, os.getpid())


@functools.lru_cache(maxsize=4)
def _cached_context(trust_anchors: str, pid: int) -> c2pa.Context:
    config: dict = {
        "builder": {"thumbnail": {"enabled": False}},
        # Nothing on the network: no remote manifests named by a file, no OCSP.
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    }
    if trust_anchors:
        config["trust"] = {"trust_anchors": _pem(trust_anchors).decode()}
    return c2pa.Context.from_dict(config)


# --- the signer ---------------------------------------------------------------------------------------------


def check_signer(app_configs=None, **kwargs) -> list[CheckMessage]:
    """System check: with credentials on, the signer signs a tiny PNG, so a bad certificate or key shows at
    start-up rather than in the first generation (which it would fail)."""
    if not enabled():
        return []
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    created = Action(
        "c2pa.created", software_agent={"name": CLAIM_GENERATOR}, source_type=TRAINED_ALGORITHMIC_MEDIA
    )
    try:
        sign(buffer.getvalue(), format="png", title="check.png", actions=[created])
    except CredentialsError as error:
        return [
            Error(
                f"Content credentials cannot be signed: {error}",
                hint="STUDIO_C2PA_CERT must be the signer's certificate chain (signer first) and "
                "STUDIO_C2PA_KEY its private key, as PEM or PEM files; or set STUDIO_C2PA=0.",
                id="generation.E010",
            )
        ]
    return []


@dataclass(frozen=True)
class _Material:
    chain: bytes  # PEM, signer first
    key: bytes  # PEM
    algorithm: c2pa.C2paSigningAlg


def _signing_material() -> _Material:
    return _load_material(settings.STUDIO_C2PA_CERT, settings.STUDIO_C2PA_KEY, str(settings.STUDIO_C2PA_DIR))


def signer_is_development() -> bool:
    """True when no signer is configured and Studio signs with its own, untrusted, development chain."""
    return not settings.STUDIO_C2PA_CERT


@functools.lru_cache(maxsize=4)
def _load_material(cert: str, key: str, development_dir: str) -> _Material:
    if cert:
        chain, key_pem = _pem(cert), _pem(key)
    else:
        chain, key_pem = development_chain(Path(development_dir))
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError as error:
        raise CredentialsError(f"the C2PA signing key cannot be read: {error}") from None
    return _Material(chain=chain, key=key_pem, algorithm=_algorithm(private_key))


def _pem(value: str) -> bytes:
    """The setting's PEM: the value itself when it is PEM, else the file it names."""
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    try:
        return Path(value).read_bytes()
    except OSError as error:
        raise CredentialsError(f"cannot read {value}: {error.strerror}") from None


def _algorithm(private_key) -> c2pa.C2paSigningAlg:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        name = by_curve.get(private_key.curve.name)
        if name is None:
            raise CredentialsError(f"C2PA cannot sign with the {private_key.curve.name} curve")
        return c2pa.C2paSigningAlg[name]
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    if isinstance(private_key, rsa.RSAPrivateKey):
        return c2pa.C2paSigningAlg.PS256
    raise CredentialsError(f"C2PA cannot sign with a {type(private_key).__name__}")


def development_chain(directory: Path) -> tuple[bytes, bytes]:
    """The development chain (signer + root, PEM) and signer key in ``directory``, made on first use.

    Made in a temporary folder beside it and renamed into place, so a web process and a worker starting
    together end up with one chain, never a mix of two. The key file is readable by its owner only.
    """
    chain_path, key_path = directory / "chain.pem", directory / "signer.key"
    if not chain_path.exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".c2pa-", dir=directory.parent))
        try:
            chain, key = _make_development_chain()
            (staging / "chain.pem").write_bytes(chain)
            descriptor = os.open(staging / "signer.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(key)
            try:
                staging.rename(directory)
                logger.warning(
                    "Made a development C2PA certificate in %s: content credentials will say they are not "
                    "from a trusted signer. Set STUDIO_C2PA_CERT and STUDIO_C2PA_KEY for production.",
                    directory,
                )
            except OSError:
                pass  # another process made it first (or the folder exists): use what is there
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    try:
        return chain_path.read_bytes(), key_path.read_bytes()
    except OSError as error:
        raise CredentialsError(
            f"{directory} has no usable development certificate ({error.strerror}); delete the folder and "
            "Studio makes a new one"
        ) from None


def _make_development_chain() -> tuple[bytes, bytes]:
    """An ES256 root CA and a signer certificate with the key usage and EKU the C2PA profile asks for."""
    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(_DEVELOPMENT_ROOT_NAME)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(_name(DEVELOPMENT_SIGNER_NAME))
        .issuer_name(root_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=5 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [_C2PA_CLAIM_SIGNING, _DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    chain = signer.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM)
    key = signer_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return chain, key


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Studio (development)"),
        ]
    )


def _key_usage(*, digital_signature: bool = False, key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# --- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One action of a manifest, in words ("edited: background replaced")."""

    action: str
    text: str


@dataclass(frozen=True)
class Credentials:
    """What a file's active manifest says, in words, and whether it holds up."""

    state: str  # the SDK's validation state: "Trusted", "Valid" (intact, signer not trusted) or "Invalid"
    generator: str
    signer: str
    steps: list[Step] = field(default_factory=list)
    ingredients: list["IngredientCredentials"] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # validation failures other than an untrusted signer

    @property
    def intact(self) -> bool:
        return self.state in {"Valid", "Trusted"}

    @property
    def trusted(self) -> bool:
        return self.state == "Trusted"

    @property
    def development_signer(self) -> bool:
        return self.signer == DEVELOPMENT_SIGNER_NAME

    @property
    def summary(self) -> str:
        return "; ".join(step.text for step in self.steps if step.action != "c2pa.opened")


@dataclass(frozen=True)
class IngredientCredentials:
    title: str
    relationship: str
    summary: str  # what the ingredient's own manifest says, "" when it has none
    generator: str


def has_manifest(data: bytes, *, format: str | None = None) -> bool:
    """True when ``data`` carries a C2PA manifest store (valid or not)."""
    try:
        reader = c2pa.Reader.try_create(MIME_TYPES.get(format or ""), io.BytesIO(data), None, _context())
    except c2pa.C2paError:
        return False
    if reader is None:
        return False
    reader.close()
    return True


def read(data: bytes, *, format: str | None = None) -> Credentials | None:
    """The credentials ``data`` carries, validated by the SDK's Reader; ``None`` when it carries none."""
    try:
        reader = c2pa.Reader.try_create(MIME_TYPES.get(format or ""), io.BytesIO(data), None, _context())
    except c2pa.C2paError as error:
        return Credentials(state="Invalid", generator="", signer="", problems=[f"unreadable: {error}"])
    if reader is None:
        return None
    with reader:
        store = json.loads(reader.json())
    manifests = store.get("manifests", {})
    active = manifests.get(store.get("active_manifest"), {})
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    problems = [
        f"{entry.get('code')}: {entry.get('explanation', '')}".strip()
        for entry in results.get("failure", [])
        if entry.get("code") != "signingCredential.untrusted"
    ]
    return Credentials(
        state=store.get("validation_state", "Invalid"),
        generator=_generator(active),
        signer=(active.get("signature_info") or {}).get("common_name", ""),
        steps=_steps(active),
        ingredients=[_ingredient(entry, manifests) for entry in active.get("ingredients", [])],
        problems=problems,
    )


def asset_credentials(*, asset: Asset) -> Credentials | None:
    """:func:`read` on an asset's stored file, remembered by its content hash (the file never changes)."""
    anchors = settings.STUDIO_C2PA_TRUST_ANCHORS
    key = f"c2pa:credentials:{asset.content_hash}:{hashlib.sha256(anchors.encode()).hexdigest()[:12]}"
    cached = cache.get(key)
    if cached is not None:
        return cached or None
    try:
        data = asset_read_bytes(asset=asset)
    except OSError:
        return None
    found = read(data, format=asset.format)
    cache.set(key, found or False, _READ_CACHE_SECONDS)
    return found


def _generator(manifest: dict) -> str:
    info = manifest.get("claim_generator_info") or []
    return info[0].get("name", "") if info else manifest.get("claim_generator", "")


def _steps(manifest: dict) -> list[Step]:
    steps = []
    for assertion in manifest.get("assertions", []):
        if not assertion.get("label", "").startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions", []):
            name = action.get("action", "")
            word = _ACTION_WORDS.get(name, name.removeprefix("c2pa."))
            description = action.get("description") or ""
            agent = (
                (action.get("softwareAgent") or {}).get("name", "")
                if isinstance(action.get("softwareAgent"), dict)
                else str(action.get("softwareAgent") or "")
            )
            if name == "c2pa.created":
                text = f"created by {_generator(manifest) or 'an unknown tool'}"
                text += f" with model {agent}" if agent else ""
            else:
                text = f"{word}: {description}" if description else word
                text += f" (model {agent})" if agent and name == "c2pa.edited" else ""
            if declared_source_type(str(action.get("digitalSourceType", "")).encode()):
                text += ", AI-generated"
            steps.append(Step(action=name, text=text))
    return steps


def _ingredient(entry: dict, manifests: dict) -> IngredientCredentials:
    own = manifests.get(entry.get("active_manifest") or "", {})
    return IngredientCredentials(
        title=entry.get("title", ""),
        relationship=entry.get("relationship", ""),
        summary="; ".join(step.text for step in _steps(own) if step.action != "c2pa.opened") if own else "",
        generator=_generator(own) if own else "",
    )
