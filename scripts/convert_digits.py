#!/usr/bin/env python3
"""Convert scikit-learn's bundled digits data set into the .npy files that
`sslwatch train --dataset digits` reads from assets/.

Writes
  assets/digits_images.npy  uint8, shape (1797, 8, 8), values 0..16
  assets/digits_labels.npy  int64, shape (1797,), values 0..9
  assets/DIGITS-LICENSE.md  attribution (UCI, CC BY 4.0)

Run once from the repository root: python3 scripts/convert_digits.py
"""
import pathlib
import sys

import numpy as np
from sklearn.datasets import load_digits

LICENSE = """# Digits data set: attribution

`digits_images.npy` and `digits_labels.npy` are the 1,797 8x8 handwritten
digits that scikit-learn ships (`sklearn.datasets.load_digits`), converted by
`scripts/convert_digits.py` (pixel values 0..16 as uint8, labels 0..9 as int64).

They are the test set of the **Optical Recognition of Handwritten Digits**
data set from the UCI Machine Learning Repository:

> Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits
> [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C50P49

licensed under the Creative Commons Attribution 4.0 International licence
(CC BY 4.0, https://creativecommons.org/licenses/by/4.0/). The conversion
changes only the file format.
"""


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    assets = root / "assets"
    assets.mkdir(exist_ok=True)
    digits = load_digits()
    images = digits.images
    if images.shape != (1797, 8, 8) or images.min() < 0 or images.max() > 16:
        print(f"unexpected digits data: shape {images.shape}", file=sys.stderr)
        return 1
    np.save(assets / "digits_images.npy", images.astype(np.uint8))
    np.save(assets / "digits_labels.npy", digits.target.astype(np.int64))
    (assets / "DIGITS-LICENSE.md").write_text(LICENSE)
    print(f"wrote {assets}/digits_images.npy, digits_labels.npy, DIGITS-LICENSE.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
