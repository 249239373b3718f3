"""Reading and checking images for the difference finder: Pillow in, HxWx3 uint8 NumPy arrays out.

Every problem with what the user passed becomes a `VisionInputError` whose message names the file or
argument and what was expected, so the CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class VisionInputError(ValueError):
    """An image or argument the difference finder cannot work with; the message says which and why."""


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as an HxWx3 uint8 RGB array (palette, grey and alpha images are converted)."""
    path = Path(path)
    if not path.exists():
        raise VisionInputError(f"{path}: no such file")
    if path.is_dir():
        raise VisionInputError(f"{path}: is a directory, expected an image file")
    try:
        with Image.open(path) as img:
            img.load()
            rgb = ImageOps.exif_transpose(img).convert("RGB")  # photos: upright, as a viewer shows them
    except Image.DecompressionBombError as e:  # Pillow refuses images far larger than any photo
        raise VisionInputError(f"{path}: too large to read safely ({e})") from None
    except UnidentifiedImageError:
        raise VisionInputError(f"{path}: not an image Pillow can read (PNG, JPEG, BMP, ...)") from None
    except (OSError, ValueError) as e:  # truncated or corrupt data inside a recognised format
        raise VisionInputError(f"{path}: cannot decode the image ({e})") from None
    return np.asarray(rgb, dtype=np.uint8).copy()


def check_writable(path: str | Path, image: bool = True) -> None:
    """Raise VisionInputError now, before any work, if `path` cannot be written (no folder, unknown format)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise VisionInputError(f"{path}: cannot write, folder {path.parent} does not exist")
    if path.is_dir():
        raise VisionInputError(f"{path}: is a directory, expected a file name")
    if image and path.suffix.lower() not in Image.registered_extensions():
        raise VisionInputError(f"{path}: unknown image format {path.suffix!r}; use .png (or .jpg, .bmp, ...)")


def save_image(image: np.ndarray, path: str | Path) -> None:
    """Write an HxWx3 uint8 array; the format follows the file extension (.png, .jpg, ...)."""
    check_writable(path)
    try:
        Image.fromarray(image).save(path)
    except ValueError as e:  # unknown extension
        raise VisionInputError(f"{path}: cannot write this image format ({e})") from None
    except OSError as e:
        raise VisionInputError(f"{path}: cannot write ({e})") from None


def resize_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`image` resampled to (height, width) = `shape` (Lanczos), for comparing pictures of different sizes."""
    height, width = shape
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS), dtype=np.uint8)


def as_rgb(image: Any, name: str) -> np.ndarray:
    """Check that `image` is an HxWx3 (or HxW grey, HxWx4 with alpha ignored) uint8 array; return HxWx3."""
    if not isinstance(image, np.ndarray):
        raise VisionInputError(f"{name} is a {type(image).__name__}; expected a NumPy uint8 array of shape (H, W, 3)")
    if image.dtype != np.uint8:
        raise VisionInputError(f"{name} has dtype {image.dtype}; expected uint8 (0..255)")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise VisionInputError(f"{name} has shape {image.shape}; expected (H, W, 3) RGB")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise VisionInputError(f"{name} is empty (shape {image.shape})")
    return image[:, :, :3]
