"""Pixel work for the refine operations: masks, regions, compositing, subjects, outpaint canvases, recolour.

Pure image code (Pillow, NumPy, OpenCV); no diffusers and no Django, so each rule is unit-tested on tiny
images. Masks are mode "L" images of the picture's size: 255 = change, 0 = keep.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from contextlib import suppress
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageColor

# A mask whose aspect ratio differs from the image's by more than this is refused rather than stretched.
ASPECT_TOLERANCE = 0.02
MAX_MASK_SIDE = 8192


class MaskError(ValueError):
    """The mask cannot be used; the message says why, fit to show a user."""


def load_mask(data: bytes, size: tuple[int, int]) -> Image.Image:
    """Decode a PNG mask (white = change, black = keep) and scale it to ``size``.

    Transparent pixels count as black, so a canvas painted in white on a transparent layer works as it is.
    The mask must be a PNG with the image's aspect ratio (any resolution); anything else is a MaskError.
    """
    if not data:
        raise MaskError("The mask is empty (zero bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as mask:
                if mask.format != "PNG":
                    raise MaskError(
                        f"The mask must be a PNG image, not {mask.format or 'an unknown format'}."
                    )
                if max(mask.size) > MAX_MASK_SIDE:
                    raise MaskError(
                        f"The mask is {mask.width}x{mask.height}; at most {MAX_MASK_SIDE} px a side."
                    )
                mask.load()
                grey = _to_grey(mask)
    except MaskError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise MaskError("The mask is not a readable PNG image.") from None
    width, height = size
    if abs(grey.width / grey.height - width / height) > ASPECT_TOLERANCE * (width / height):
        raise MaskError(
            f"The mask is {grey.width}x{grey.height} but the image is {width}x{height}: "
            "paint the mask over this image (same size or aspect ratio)."
        )
    if grey.size != (width, height):
        grey = grey.resize((width, height), Image.Resampling.BILINEAR)
    return grey.point(lambda value: 255 if value >= 128 else 0)


def _to_grey(mask: Image.Image) -> Image.Image:
    if mask.mode in {"RGB", "RGBA", "P", "PA"}:
        _refuse_colour(mask)
    if mask.mode in {"RGBA", "LA", "PA"} or "transparency" in mask.info:
        rgba = mask.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("L")
    if mask.mode in {"I", "I;16", "I;16B", "I;16L"}:
        array = np.asarray(mask, dtype=np.float64)
        top = 65535.0 if array.max() > 255 else 255.0
        return Image.fromarray(np.clip(array / top * 255.0, 0, 255).astype(np.uint8), "L")
    return mask.convert("L")


def _refuse_colour(mask: Image.Image) -> None:
    """A mask is black and white (grey at anti-aliased edges); a colour picture is a mistake, not a mask."""
    rgba = np.asarray(mask.convert("RGBA"), dtype=np.int16)
    visible = rgba[..., 3] > 0
    if not visible.any():
        return
    spread = rgba[..., :3].max(axis=-1) - rgba[..., :3].min(axis=-1)
    if np.count_nonzero((spread > 48) & visible) > 0.01 * np.count_nonzero(visible):
        raise MaskError(
            "The mask has colours: it must be black and white (white = change, black or transparent = keep), "
            "not a photo."
        )


def mask_is_empty(mask: Image.Image) -> bool:
    return mask.getbbox() is None


def union(first: Image.Image, second: Image.Image) -> Image.Image:
    return Image.fromarray(np.maximum(np.asarray(first), np.asarray(second)), "L")


def mask_fraction(mask: Image.Image) -> float:
    return float(np.count_nonzero(np.asarray(mask))) / (mask.width * mask.height)


# --- Regions ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.right, self.bottom)


def work_regions(mask: Image.Image, *, square: bool, context: float = 0.5, min_side: int = 32) -> list[Box]:
    """The boxes to redraw for ``mask``: one per separate painted area, each with context around it.

    Areas closer than their context merge into one box. ``square`` boxes (for a model that draws one square
    size) grow their shorter side, shifted to stay inside the image; a box larger than the image is the
    whole image.
    """
    width, height = mask.size
    binary = (np.asarray(mask) > 0).astype(np.uint8)
    if not binary.any():
        return []
    # Join areas whose context windows would overlap, so nearby strokes are drawn together.
    _x, _y, w, h = cv2.boundingRect(binary)
    reach = max(3, int(context * min(w, h) / 2))
    joined = cv2.dilate(binary, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(joined, connectivity=8)
    boxes = []
    for index in range(1, count):
        left, top, box_w, box_h = (int(value) for value in stats[index][:4])
        # The dilated box is the painted box plus the reach; add the rest of the context.
        margin = max(8, int(context * max(box_w, box_h) / 2))
        boxes.append(
            _fit_box(
                left - margin,
                top - margin,
                box_w + 2 * margin,
                box_h + 2 * margin,
                width,
                height,
                square=square,
                min_side=min_side,
            )
        )
    return boxes


def _fit_box(
    left: int, top: int, box_w: int, box_h: int, width: int, height: int, *, square: bool, min_side: int
) -> Box:
    box_w, box_h = max(box_w, min_side), max(box_h, min_side)
    if square:
        side = max(box_w, box_h)
        left -= (side - box_w) // 2
        top -= (side - box_h) // 2
        box_w = box_h = side
    box_w, box_h = min(box_w, width), min(box_h, height)
    left = min(max(left, 0), width - box_w)
    top = min(max(top, 0), height - box_h)
    return Box(left, top, left + box_w, top + box_h)


def feathered(mask: Image.Image, *, grow: int, soften: int) -> np.ndarray:
    """The mask as float alpha in [0, 1], grown (or, negative, shrunk) by ``grow`` px and blurred over about
    ``soften`` px."""
    binary: np.ndarray = (np.asarray(mask) > 0).astype(np.uint8) * 255
    if grow:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(grow) + 1, 2 * abs(grow) + 1))
        binary = cv2.dilate(binary, kernel) if grow > 0 else cv2.erode(binary, kernel)
    alpha: np.ndarray = binary.astype(np.float32) / 255.0
    if soften > 0:
        sigma = max(0.5, soften / 2.5)
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return np.clip(alpha, 0.0, 1.0)


def grown(mask: Image.Image, pixels: int) -> Image.Image:
    """The mask grown by ``pixels`` (a round brush), still black and white."""
    return Image.fromarray((feathered(mask, grow=pixels, soften=0) > 0).astype(np.uint8) * 255, "L")


def composite(original: Image.Image, generated: Image.Image, alpha: np.ndarray) -> Image.Image:
    """``generated`` where ``alpha`` is 1 and ``original`` where it is 0 (there bit for bit)."""
    base = np.asarray(original.convert("RGB"), dtype=np.float32)
    new = np.asarray(
        generated.convert("RGB").resize(original.size, Image.Resampling.LANCZOS), dtype=np.float32
    )
    weight = alpha[..., None]
    mixed = np.rint(new * weight + base * (1.0 - weight)).astype(np.uint8)
    keep = alpha <= 0.0
    mixed[keep] = np.asarray(original.convert("RGB"))[keep]
    return Image.fromarray(mixed, "RGB")


def classical_fill(image: Image.Image, mask: Image.Image, *, work_side: int = 256) -> Image.Image:
    """Fill the masked area from its surroundings (OpenCV's Telea inpainting), keeping everything else.

    Runs on a copy at most ``work_side`` px a side (the fill is smooth, so detail would be lost anyway) and is
    pasted back at full size: fast on large images, and a good start for the diffusion pass.
    """
    rgb = image.convert("RGB")
    scale = min(1.0, work_side / max(rgb.size))
    small_size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    small = np.asarray(rgb.resize(small_size, Image.Resampling.BOX))
    small_mask = np.asarray(mask.resize(small_size, Image.Resampling.BILINEAR))
    small_mask = (small_mask > 0).astype(np.uint8) * 255
    small_mask = cv2.dilate(small_mask, np.ones((3, 3), np.uint8))
    radius = max(3, round(max(small_size) / 32))
    filled = cv2.inpaint(np.ascontiguousarray(small[..., ::-1]), small_mask, radius, cv2.INPAINT_TELEA)
    filled_image = Image.fromarray(np.ascontiguousarray(filled[..., ::-1]), "RGB").resize(
        rgb.size, Image.Resampling.BICUBIC
    )
    return composite(rgb, filled_image, (np.asarray(mask) > 0).astype(np.float32))


def match_colours(image: Image.Image, reference: Image.Image, *, detail: float = 1 / 16) -> Image.Image:
    """``image``'s detail on ``reference``'s colours: their low-frequency difference is added back.

    Frequencies below about ``detail`` of the image's size count as colour, the rest as texture.
    """
    new = np.asarray(image.convert("RGB"), dtype=np.float32)
    old = np.asarray(reference.convert("RGB").resize(image.size, Image.Resampling.BILINEAR), dtype=np.float32)
    sigma = max(1.0, max(image.size) * detail)
    correction = cv2.GaussianBlur(old - new, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return Image.fromarray(np.clip(np.rint(new + correction), 0, 255).astype(np.uint8), "RGB")


# --- Subjects --------------------------------------------------------------------------------------------


def find_subject(image: Image.Image, background_hint: Image.Image | None = None) -> Image.Image:
    """The main subject as a mask (255 = subject), found offline with OpenCV's GrabCut.

    GrabCut starts from the picture's border as background and the middle as probably subject, then learns
    both colour models; a painted ``background_hint`` (255 = background for sure) corrects it. Runs on a
    copy at most 256 px a side. Only the largest connected piece and the pieces as big as a tenth of it are
    kept, with their holes filled, so stray specks do not count as subject.
    """
    rgb = image.convert("RGB")
    scale = min(1.0, 256 / max(rgb.size))
    size = (max(8, round(rgb.width * scale)), max(8, round(rgb.height * scale)))
    small = np.ascontiguousarray(np.asarray(rgb.resize(size, Image.Resampling.BOX))[..., ::-1])
    height, width = small.shape[:2]
    labels = np.full((height, width), cv2.GC_PR_FGD, np.uint8)
    border = max(2, round(min(width, height) * 0.04))
    labels[:border, :] = labels[-border:, :] = cv2.GC_BGD
    labels[:, :border] = labels[:, -border:] = cv2.GC_BGD
    # Pixels close in colour to the border are probably background: a much better start than a rectangle.
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
    ring = np.ascontiguousarray(
        np.concatenate(
            [
                lab[:border].reshape(-1, 3),
                lab[-border:].reshape(-1, 3),
                lab[:, :border].reshape(-1, 3),
                lab[:, -border:].reshape(-1, 3),
            ]
        )
    )
    # The border's few main colours (a plain backdrop has one, a gradient or a simple scene a handful).
    clusters = min(8, len(ring))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    # OpenCV allocates the labels it is given None for; its stubs do not allow None.
    _, _, centres = cv2.kmeans(ring, clusters, None, criteria, 2, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    distance = np.min(np.linalg.norm(lab[:, :, None, :] - centres[None, None, :, :], axis=-1), axis=-1)
    labels[(distance < 12) & (labels == cv2.GC_PR_FGD)] = cv2.GC_PR_BGD
    if background_hint is not None:
        hint = np.asarray(background_hint.resize(size, Image.Resampling.NEAREST)) > 0
        labels[hint] = cv2.GC_BGD
    if not np.any((labels == cv2.GC_PR_FGD) | (labels == cv2.GC_FGD)):
        return Image.new("L", rgb.size, 0)
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    with suppress(cv2.error):  # one colour everywhere: keep the colour-distance guess
        # No rectangle with GC_INIT_WITH_MASK: OpenCV takes None, which its stubs do not allow.
        cv2.grabCut(small, labels, None, background_model, foreground_model, 4, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
    subject = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
    subject = _main_pieces(subject)
    mask = Image.fromarray(subject * 255, "L").resize(rgb.size, Image.Resampling.BILINEAR)
    return mask.point(lambda value: 255 if value >= 128 else 0)


def _main_pieces(binary: np.ndarray) -> np.ndarray:
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 1:
        return binary
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = [index + 1 for index, area in enumerate(areas) if area >= areas.max() / 10]
    kept = np.isin(labels, keep).astype(np.uint8)
    # Fill holes: whatever background cannot be reached from the border belongs to the subject.
    padded = np.pad(kept, 1)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((flood.shape[0] + 2, flood.shape[1] + 2), np.uint8), (0, 0), 1)
    holes = (flood == 0)[1:-1, 1:-1]
    return (kept | holes).astype(np.uint8)


# --- Outpainting -----------------------------------------------------------------------------------------


def parse_aspect(value: str) -> float:
    """ "16:9", "1.91:1" or "1.5" as width / height; ValueError with a reason otherwise."""
    text = value.strip()
    try:
        if ":" in text:
            width_text, height_text = text.split(":", 1)
            ratio = float(width_text) / float(height_text)
        else:
            ratio = float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{value!r} is not an aspect ratio: write W:H, such as 16:9 or 4:5.") from None
    if not math.isfinite(ratio) or not 0.1 <= ratio <= 10:
        raise ValueError(f"The aspect ratio {value!r} is out of range (between 1:10 and 10:1).")
    return ratio


def outpaint_canvas(
    size: tuple[int, int],
    *,
    aspect: float | None = None,
    pad: tuple[int, int, int, int] | None = None,
    anchor: str = "center",
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The new canvas size and where the original's top-left corner sits on it.

    Either ``aspect`` (the canvas grows along one side until it has that width / height; ``anchor`` says
    where the original sits) or ``pad`` (pixels added to the left, top, right and bottom).
    """
    width, height = size
    if pad is not None:
        left, top, right, bottom = pad
        if min(pad) < 0 or not any(pad):
            raise ValueError("Add a positive number of pixels to at least one side.")
        return (width + left + right, height + top + bottom), (left, top)
    if aspect is None:
        raise ValueError("Choose a target aspect ratio or the pixels to add per side.")
    if aspect > width / height:
        new_width, new_height = round(height * aspect), height
    else:
        new_width, new_height = width, round(width / aspect)
    if (new_width, new_height) == (width, height) or abs(new_width - width) + abs(new_height - height) < 2:
        raise ValueError("The image already has that aspect ratio: nothing to extend.")
    extra_x, extra_y = new_width - width, new_height - height
    x = {"west": 0, "east": extra_x}.get(anchor, extra_x // 2)
    y = {"north": 0, "south": extra_y}.get(anchor, extra_y // 2)
    return (new_width, new_height), (x, y)


def new_area_mask(
    canvas_size: tuple[int, int], offset: tuple[int, int], original_size: tuple[int, int]
) -> Image.Image:
    """255 on the canvas's new area, 0 where the original sits."""
    mask = Image.new("L", canvas_size, 255)
    mask.paste(0, (*offset, offset[0] + original_size[0], offset[1] + original_size[1]))
    return mask


def place_on_canvas(
    image: Image.Image, canvas_size: tuple[int, int], offset: tuple[int, int]
) -> tuple[Image.Image, Image.Image]:
    """The original on the larger canvas, its new area filled from the edges, and the mask of the new area."""
    rgb = image.convert("RGB")
    mask = new_area_mask(canvas_size, offset, rgb.size)
    # Replicate the edges outward first (a fair start), then smooth the new area from them.
    left, top = offset
    right, bottom = canvas_size[0] - rgb.width - left, canvas_size[1] - rgb.height - top
    replicated = cv2.copyMakeBorder(np.asarray(rgb), top, bottom, left, right, cv2.BORDER_REPLICATE)
    start = Image.fromarray(replicated, "RGB")
    return classical_fill(start, mask), mask


# --- Recolour --------------------------------------------------------------------------------------------


def parse_colour(value: str) -> tuple[int, int, int]:
    """A CSS colour name (as people write them too: "light blue", "Dark-Green") or #RRGGBB as RGB;
    ValueError with a reason otherwise."""
    text = value.strip()
    if not text.startswith("#") and "(" not in text:
        text = re.sub(r"[\s_-]+", "", text)  # CSS names are one word: lightblue, darkgreen
    try:
        red, green, blue = ImageColor.getrgb(text)[:3]
    except ValueError:
        raise ValueError(
            f"{value!r} is not a colour: use a name such as 'teal' or a hex value like #1e90ff."
        ) from None
    return red, green, blue


def recolour(image: Image.Image, mask: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    """Give the masked area ``colour`` and keep its shading (CIELAB: new hue and chroma, relative lightness).

    The region's lightness is shifted so its mean matches the colour's, and its variation around that mean
    (the shading, highlights and shadows) is kept.
    """
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    target = cv2.cvtColor(np.array([[colour]], dtype=np.float32) / 255.0, cv2.COLOR_RGB2LAB)[0, 0]
    inside = np.asarray(mask) > 0
    if not inside.any():
        return image.convert("RGB")
    lightness = lab[..., 0]
    mean = float(lightness[inside].mean())
    new = lab.copy()
    new[..., 0] = np.clip(lightness - mean + target[0], 0, 100)
    # Chroma follows the shading a little, so a shadow is a darker, duller version of the colour.
    shade = np.clip(new[..., 0] / max(target[0], 1.0), 0.4, 1.4)
    new[..., 1] = target[1] * shade
    new[..., 2] = target[2] * shade
    recoloured = np.clip(cv2.cvtColor(new, cv2.COLOR_LAB2RGB), 0, 1)
    result = Image.fromarray(np.rint(recoloured * 255).astype(np.uint8), "RGB")
    return composite(image, result, feathered(mask, grow=1, soften=3))
