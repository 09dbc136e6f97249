"""The default model's looks: one emoji art set each, fetched from the npm registry, never committed.

A look is what a style preset asks for: "3D render" (Microsoft Fluent Emoji 3D, the default when a prompt
names no look), "flat illustration" (Twemoji) and "emoji" (Noto Emoji). Each package is fetched with
``npm pack`` into the training work folder and only the files used are unpacked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path


class DataPackageError(RuntimeError):
    pass


@dataclass(frozen=True)
class Look:
    key: str
    label: str
    package: str
    version: str
    kept_prefixes: tuple[str, ...]  # the members of the tarball that are unpacked
    # Caption openings; "{obj}" is the object with its article. The style preset's own prefix comes first,
    # so a prompt composed by generation.presets is a caption the model has seen.
    openings: tuple[str, ...]
    # What the look's style preset appends (generation.presets.STYLES[style_key].prompt_suffix).
    style_key: str
    # The default look is also drawn for captions that name no look.
    default: bool = False


# Records and licences come from the emoji-datasource packages (Noto and Twemoji share one emoji.json).
_DATASOURCE_FILES = ("package/emoji.json", "package/LICENSE", "package/README.md", "package/package.json")

LOOKS: dict[str, Look] = {
    look.key: look
    for look in (
        Look(
            key="3d",
            label="3D render",
            package="@lobehub/fluent-emoji-3d",
            version="1.1.0",
            kept_prefixes=("package/assets/", "package/README.md", "package/package.json"),
            openings=("a 3D render of {obj}", "a 3d render of {obj}", "a product photo of {obj}", "{obj}"),
            style_key="3d-render",
            default=True,
        ),
        Look(
            key="flat",
            label="Flat illustration",
            package="emoji-datasource-twitter",
            version="16.0.0",
            kept_prefixes=("package/img/twitter/64/", *_DATASOURCE_FILES),
            openings=(
                "a flat vector illustration of {obj}",
                "a flat illustration of {obj}",
                "a flat vector illustration of {obj}",
            ),
            style_key="flat-illustration",
        ),
        Look(
            key="emoji",
            label="Emoji",
            package="emoji-datasource-google",
            version="16.0.0",
            kept_prefixes=("package/img/google/64/", *_DATASOURCE_FILES),
            openings=("an emoji of {obj}", "an emoji of {obj}", "{obj} emoji"),
            style_key="emoji",
        ),
    )
}
DEFAULT_LOOK = next(key for key, look in LOOKS.items() if look.default)


def package_folder(root: Path, look: Look) -> Path:
    return root / look.package.replace("/", "__").lstrip("@") / "package"


def ensure_package(root: Path, look: Look) -> Path:
    """Return the unpacked package folder of ``look`` under ``root``, fetching it with ``npm pack``."""
    package_dir = package_folder(root, look)
    marker = package_dir / ".complete"
    if marker.is_file():
        return package_dir
    download_dir = package_dir.parent
    download_dir.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    spec = f"{look.package}@{look.version}"
    if npm is None:
        raise DataPackageError(f"npm is needed to fetch the training data ({spec}); install Node.js.")
    result = subprocess.run(
        [npm, "pack", spec, "--pack-destination", str(download_dir), "--silent"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DataPackageError(f"npm pack {spec} failed: {result.stderr.strip()}")
    tarball = download_dir / result.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        # Only single images and metadata: the sprite sheets are most of the emoji-datasource tarballs.
        members = [member for member in archive.getmembers() if member.name.startswith(look.kept_prefixes)]
        archive.extractall(download_dir, members=members, filter="data")
    tarball.unlink()
    marker.write_text(spec + "\n")
    return package_dir


def ensure_packages(root: Path) -> dict[str, Path]:
    """Every look's package folder, fetched when missing."""
    return {key: ensure_package(root, look) for key, look in LOOKS.items()}


def emoji_records(packages: dict[str, Path]) -> dict[str, dict]:
    """emoji-datasource records by short name (the Noto and Twemoji packages share them)."""
    source = packages["emoji"] / "emoji.json"
    return {record["short_name"]: record for record in json.loads(source.read_text())}


def sprite_path(look_key: str, package_dir: Path, record: dict) -> Path | None:
    """The image of one emoji record in one look's package, or None when the package has none."""
    if look_key == "3d":
        for codes in (record["unified"], record.get("non_qualified") or ""):
            path = package_dir / "assets" / f"{codes.lower()}.webp"
            if codes and path.is_file():
                return path
        return None
    flag = {"flat": "has_img_twitter", "emoji": "has_img_google"}[look_key]
    folder = {"flat": "twitter", "emoji": "google"}[look_key]
    if not record.get(flag):
        return None
    return package_dir / "img" / folder / "64" / record["image"]


def bundle_packages(packages: dict[str, Path], short_names: list[str], root: Path) -> dict[str, Path]:
    """Copy just what training ``short_names`` needs into ``root``, in the layout ``ensure_package`` reads.

    A few MB instead of ~70: small enough to carry to a machine that cannot reach the npm registry.
    """
    records = emoji_records(packages)
    kept = [records[name] for name in short_names]
    bundled = {}
    for key, look in LOOKS.items():
        source = packages[key]
        target = package_folder(root, look)
        target.mkdir(parents=True, exist_ok=True)
        for name in ("LICENSE", "README.md", "package.json"):
            if (source / name).is_file():
                shutil.copy2(source / name, target / name)
        (target / "emoji.json").write_text(json.dumps(kept))
        for record in kept:
            path = sprite_path(key, source, record)
            if path is None:
                raise DataPackageError(
                    f"{record['short_name']!r} has no {look.label} image ({look.package})."
                )
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
        (target / ".complete").write_text(f"{look.package}@{look.version} (bundle)\n")
        bundled[key] = target
    return bundled
