"""Small images: bars-and-stripes (exact entropy log K), 8 x 8 shapes, the 8 x 8 digits.

Binary images are float64 arrays of shape (n, H, W) with pixels in {0, 1}; the
digits also come with their 17 grey levels, int64 in 0..16. Nothing is downloaded.

The digits are the 1,797 images of the UCI "Optical Recognition of Handwritten
Digits" data (optdigits; E. Alpaydin and C. Kaynak, 1998; UCI Machine Learning
Repository, licensed CC BY 4.0) in the copy scikit-learn bundles: each pixel
counts the on-pixels of a 4 x 4 block of a 32 x 32 bitmap, hence 0..16. They
ship in ``digits8.npz`` beside this module (written once by
benchmarks/make_digits8.py), with their labels and a fixed train / validation /
test split of 1,197 / 300 / 300 images.
"""
import functools
import math
import os

import numpy as onp

from .._validate import as_rng, check_positive_int

__all__ = ["SHAPES", "bars_and_stripes", "bars_and_stripes_entropy", "bars_and_stripes_patterns", "digits8",
           "digits8_levels", "digits8_split", "shapes8"]

def bars_and_stripes_patterns(size=4):
    """All 2^(size+1) - 2 distinct size x size bars-and-stripes images, (K, size, size) in {0, 1}.

    Stripes: each row all on or all off (2^size images); bars: the same for
    columns. The all-off and all-on images are both a bar and a stripe
    pattern, so they are counted once: K = 2 * 2^size - 2.
    """
    size = check_positive_int(size, "size")
    bits = (onp.arange(2 ** size)[:, None] >> onp.arange(size)) & 1          # (2^size, size)
    stripes = onp.repeat(bits[:, :, None], size, axis=2)                       # row i = bit i
    bars = onp.transpose(stripes, (0, 2, 1))[1:-1]                             # drop all-off / all-on
    return onp.concatenate([stripes, bars]).astype(onp.float64)


def bars_and_stripes(n, size=4, rng=None):
    """n images drawn uniformly from ``bars_and_stripes_patterns(size)``; rng None means seed 0."""
    n = check_positive_int(n, "n")
    patterns = bars_and_stripes_patterns(size)
    rng = as_rng(0 if rng is None else rng)
    return patterns[rng.integers(0, len(patterns), size=n)]


def bars_and_stripes_entropy(size=4):
    """H = log(2^(size+1) - 2) nats: the data are uniform over the distinct patterns."""
    size = check_positive_int(size, "size")
    return math.log(2 ** (size + 1) - 2)


SHAPES = ("filled square", "outlined square", "plus", "horizontal line",
          "vertical line", "diagonal line", "disk")


def _draw_shape(kind, rng, rr, cc):
    """One 8 x 8 boolean mask of shape ``kind`` at a random position and size."""
    if kind in (0, 1):                                    # square, side 2..5 (outlined: 3..6)
        side = rng.integers(2, 6) if kind == 0 else rng.integers(3, 7)
        r0, c0 = rng.integers(0, 9 - side, size=2)
        inside = (rr >= r0) & (rr < r0 + side) & (cc >= c0) & (cc < c0 + side)
        if kind == 0:
            return inside
        core = (rr > r0) & (rr < r0 + side - 1) & (cc > c0) & (cc < c0 + side - 1)
        return inside & ~core
    if kind == 2:                                         # plus with arms of 1 or 2 pixels
        arm = rng.integers(1, 3)
        r, c = rng.integers(arm, 8 - arm, size=2)
        return ((rr == r) & (abs(cc - c) <= arm)) | ((cc == c) & (abs(rr - r) <= arm))
    if kind in (3, 4):                                    # straight line, 3..8 pixels
        length = rng.integers(3, 9)
        fixed, start = rng.integers(0, 8), rng.integers(0, 9 - length)
        along, across = (cc, rr) if kind == 3 else (rr, cc)
        return (across == fixed) & (along >= start) & (along < start + length)
    if kind == 5:                                         # diagonal line, either direction
        length = rng.integers(3, 9)
        r0, c0 = rng.integers(0, 9 - length, size=2)
        step = cc - c0
        on = (step >= 0) & (step < length)
        if rng.integers(0, 2):
            return on & (rr == r0 + step)
        return on & (rr == r0 + length - 1 - step)
    centre = rng.uniform(2.0, 5.0, size=2)                # disk of radius 1.2..2.6
    radius = rng.uniform(1.2, 2.6)
    return (rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 <= radius ** 2


def shapes8(n, rng=None, labels=False):
    """n procedurally drawn 8 x 8 binary images, (n, 8, 8) float64 in {0, 1}.

    Each image holds one shape of a kind drawn uniformly from ``SHAPES``, at a
    random position and size. Same rng, same images (rng None means seed 0).
    With ``labels``, also the kind index of each image, (n,) int.
    """
    n = check_positive_int(n, "n")
    rng = as_rng(0 if rng is None else rng)
    rr, cc = onp.mgrid[0:8, 0:8]
    kinds = rng.integers(0, len(SHAPES), size=n)
    images = onp.stack([_draw_shape(k, rng, rr, cc) for k in kinds]).astype(onp.float64)
    return (images, kinds.astype(onp.int64)) if labels else images


DIGITS8_FILE = os.path.join(os.path.dirname(__file__), "digits8.npz")
DIGITS8_LEVELS = 17   # grey levels 0..16
DIGITS8_SPLIT = ("train", "validation", "test")


@functools.lru_cache(maxsize=1)
def _digits8_file():
    with onp.load(DIGITS8_FILE) as f:
        return f["images"].astype(onp.int64), f["labels"].astype(onp.int64), f["split"].astype(onp.int64)


def digits8_levels(labels=False):
    """All 1,797 digits with their grey levels: (1797, 8, 8) int64 in 0..16 (and the digits 0..9, (1797,))."""
    images, digit, _ = _digits8_file()
    return (images.copy(), digit.copy()) if labels else images.copy()


def digits8_split(labels=False):
    """The fixed split (train, validation, test) of the digits, 1,197 / 300 / 300 images.

    Each part is (n, 8, 8) int64 in 0..16 (with labels: a pair (images, digits 0..9)).
    The split was drawn once, by a permutation with seed 0, and is stored with the data,
    so every model is scored on the same 300 test images.
    """
    images, digit, split = _digits8_file()
    parts = [(images[split == k].copy(), digit[split == k].copy()) for k in range(len(DIGITS8_SPLIT))]
    return tuple(parts) if labels else tuple(p[0] for p in parts)


def digits8(threshold=8):
    """The 8 x 8 handwritten digits, binarized: (1797, 8, 8) float64, 1 where the grey level is >= threshold.

    Grey levels run 0..16 (see ``digits8_levels`` for them, ``digits8_split`` for the split).
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 16:
        raise ValueError(f"threshold: expected a number in (0, 16], got {threshold!r}")
    return (digits8_levels() >= threshold).astype(onp.float64)
