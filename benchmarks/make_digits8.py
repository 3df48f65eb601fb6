"""Write tinygen/data/digits8.npz, the 8 x 8 digits tinygen ships: run once, by a maintainer.

Source: the copy of the UCI "Optical Recognition of Handwritten Digits" data
(optdigits, E. Alpaydin and C. Kaynak, 1998; UCI Machine Learning Repository,
CC BY 4.0) that scikit-learn bundles: the 1,797 images of the UCI test part,
8 x 8 counts 0..16 of on-pixels in 4 x 4 blocks of a 32 x 32 bitmap.
scikit-learn is needed here only; tinygen reads the .npz with NumPy.

The file holds
    images  (1797, 8, 8) uint8, values 0..16, in scikit-learn's order
    labels  (1797,) uint8, the digit 0..9
    split   (1797,) uint8, 0 = train (1,197), 1 = validation (300), 2 = test (300),
            from one permutation of the indices drawn with seed 0 and stored, so the
            split does not depend on the NumPy version that reads it.

Run: python benchmarks/make_digits8.py   (needs scikit-learn)
"""
import os

import numpy as onp
from sklearn.datasets import load_digits

N_VALID, N_TEST = 300, 300

digits = load_digits()
images = digits.images.astype(onp.uint8)
assert onp.array_equal(images, digits.images) and images.max() == 16
labels = digits.target.astype(onp.uint8)

order = onp.random.default_rng(0).permutation(len(images))
split = onp.zeros(len(images), dtype=onp.uint8)
split[order[len(images) - N_VALID - N_TEST:len(images) - N_TEST]] = 1
split[order[len(images) - N_TEST:]] = 2

out = os.path.join(os.path.dirname(__file__), "..", "tinygen", "data", "digits8.npz")
onp.savez_compressed(out, images=images, labels=labels, split=split)
print(f"wrote {os.path.normpath(out)}: {len(images)} images, split sizes {onp.bincount(split).tolist()}")
