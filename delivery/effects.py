"""The finishing effects a component applies after its geometry, on pixels with libvips: ``e_``
(background removal, grayscale, blur, sharpen, improve), rounded corners (``r_``), borders (``bo_``) and
rotation (``a_``), in that order (Cloudinary's).
"""

import pyvips

from delivery.transformations import TransformationError

__all__ = ["add_border", "apply_effect", "rgba", "rotate", "round_corners", "subject_box"]


def _split_alpha(image: pyvips.Image) -> tuple[pyvips.Image, pyvips.Image | None]:
    if image.hasalpha():
        return image.extract_band(0, n=image.bands - 1), image.extract_band(image.bands - 1)
    return image, None


def _join_alpha(image: pyvips.Image, alpha: pyvips.Image | None) -> pyvips.Image:
    image = image.cast("uchar").copy(interpretation="srgb")
    return image.bandjoin(alpha) if alpha is not None else image


def _subject_mask(image: pyvips.Image) -> pyvips.Image:
    """The refine tools' subject finder (OpenCV GrabCut, generation/engine/masks.py) as a 0/255 band."""
    from PIL import Image as PILImage  # only the subject effects need these: keep them off the import path

    from generation.engine.masks import find_subject

    rgb, _ = _split_alpha(image)
    mask = find_subject(PILImage.fromarray(rgb.numpy(), "RGB"))
    return pyvips.Image.new_from_memory(mask.tobytes(), mask.width, mask.height, 1, "uchar")


def subject_box(image: pyvips.Image) -> tuple[int, int, int, int] | None:
    mask = _subject_mask(image)
    if mask.max() == 0:
        return None
    left, top, width, height = mask.find_trim(threshold=127, background=[0])
    return (left, top, width, height) if width and height else None


def apply_effect(image: pyvips.Image, effect: str) -> pyvips.Image:
    name, _, value = effect.partition(":")
    if name == "background_removal":
        image = image.copy_memory()
        rgb, alpha = _split_alpha(image)
        mask = _subject_mask(image).gaussblur(0.8)  # a soft edge, not a staircase
        if alpha is not None:
            mask = (mask * (alpha / 255.0)).cast("uchar")
        return _join_alpha(rgb, mask)
    rgb, alpha = _split_alpha(image)
    if name == "grayscale":
        return _join_alpha(rgb.colourspace("b-w").colourspace("srgb"), alpha)
    if name == "blur":
        # Cloudinary's strength 1-2000 (default 100) as a Gaussian of strength/50 pixels: 2 to 40.
        return _join_alpha(rgb.gaussblur(int(value) / 50), alpha)
    if name == "sharpen":
        k = int(value) / 100  # default 100: libvips' own defaults
        return _join_alpha(rgb.sharpen(sigma=1.0, m2=3 * k, y2=min(100, 10 * k), y3=min(100, 20 * k)), alpha)
    if name == "improve":
        _, mode, blend = effect.split(":")
        return _join_alpha(_improve(rgb.copy_memory(), mode, int(blend) / 100), alpha)
    raise TransformationError(f"unsupported effect e_{name}")


def _improve(rgb: pyvips.Image, mode: str, blend: float) -> pyvips.Image:
    """Cloudinary's e_improve: automatic levels, contrast and colour. Lightness is stretched so the 1st
    and 99th percentiles span the range; ``indoor`` also neutralises a colour cast (grey world), ``outdoor``
    lifts saturation a little. ``blend`` mixes the result with the original."""
    import numpy as np

    lab = rgb.colourspace("lab")
    sample = lab.thumbnail_image(256).numpy() if max(rgb.width, rgb.height) > 256 else lab.numpy()
    low, high = np.percentile(sample[..., 0], [1, 99])
    stretch = 100.0 / max(high - low, 10.0)
    lightness = ((lab[0] - low) * stretch).copy(interpretation="b-w")
    if mode == "indoor":
        a = lab[1] - float(np.mean(sample[..., 1])) * 0.8
        b = lab[2] - float(np.mean(sample[..., 2])) * 0.8
    else:
        a, b = lab[1] * 1.15, lab[2] * 1.15
    improved = lightness.bandjoin([a, b]).copy(interpretation="lab").colourspace("srgb")
    if blend < 1.0:
        improved = rgb * (1 - blend) + improved * blend
    return improved.cast("uchar").copy(interpretation="srgb")


def _corner_radii(radius: str, width: int, height: int) -> list[float] | None:
    if radius == "max":
        return None  # an ellipse touching every side
    values = [int(v) for v in radius.split(":")] if ":" in radius else [int(radius)] * 4
    limit = min(width, height) / 2
    return [min(float(v), limit) for v in values]


def _rounded_mask(width: int, height: int, radius: str) -> pyvips.Image:
    radii = _corner_radii(radius, width, height)
    if radii is None:
        shape = f'<ellipse cx="{width / 2}" cy="{height / 2}" rx="{width / 2}" ry="{height / 2}"/>'
    else:
        tl, tr, br, bl = radii
        shape = (
            f'<path d="M{tl},0 H{width - tr} A{tr},{tr} 0 0 1 {width},{tr} V{height - br} '
            f"A{br},{br} 0 0 1 {width - br},{height} H{bl} A{bl},{bl} 0 0 1 0,{height - bl} "
            f'V{tl} A{tl},{tl} 0 0 1 {tl},0 Z"/>'
        )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<g fill="#fff">{shape}</g></svg>'
    )
    return pyvips.Image.svgload_buffer(svg.encode()).extract_band(3)


def round_corners(image: pyvips.Image, radius: str) -> pyvips.Image:
    rgb, alpha = _split_alpha(image)
    mask = _rounded_mask(image.width, image.height, radius)
    if alpha is not None:
        mask = (mask * (alpha / 255.0)).cast("uchar")
    return _join_alpha(rgb, mask)


def add_border(image: pyvips.Image, border: tuple[int, str], radius: str | None) -> pyvips.Image:
    """A solid border round the image, following its rounded corners when it has them."""
    size, colour = border
    fill = rgba(colour)
    width, height = image.width + 2 * size, image.height + 2 * size
    if radius is None and not image.hasalpha() and fill[3] == 255:
        return image.embed(size, size, width, height, extend="background", background=fill[:3])
    if not image.hasalpha():
        image = image.bandjoin(255)
    canvas = (pyvips.Image.black(width, height, bands=4) + fill).cast("uchar").copy(interpretation="srgb")
    if radius is not None:
        outer = radius if radius == "max" else ":".join(str(int(v) + size) for v in radius.split(":"))
        canvas = round_corners(canvas, outer)
    framed = canvas.composite2(image, "over", x=size, y=size)
    return framed.cast("uchar").copy(interpretation="srgb")


def rotate(image: pyvips.Image, angle: int | str, background: str | None) -> pyvips.Image:
    if angle == "hflip":
        return image.fliphor()
    if angle == "vflip":
        return image.flipver()
    if angle in (90, 180, 270):
        return image.rot(f"d{angle}")
    # Any other angle: clockwise, on the smallest canvas that holds it all; the corners are b_ or clear.
    if background is None and not image.hasalpha():
        image = image.bandjoin(255)
    fill = rgba(background or "ffffff00")
    fill = fill if image.hasalpha() else fill[:3]
    return image.rotate(angle, background=fill).cast("uchar").copy(interpretation="srgb")


def rgba(hex_colour: str) -> list[int]:
    values = [int(hex_colour[i : i + 2], 16) for i in range(0, len(hex_colour), 2)]
    return values if len(values) == 4 else [*values, 255]
