"""Rebuilds the Fashion-MNIST subset shipped in src/lamina/datasets/data/.

The subset is the first 200 training and the first 50 test images of each class, kept in their
original order (2,000 + 500 images). It is deterministic: the same full dataset always gives
the same arrays. The original indices are stored alongside (``train_indices``,
``test_indices``) so the subset can be checked against the full set.

Usage:
    python scripts/make_fashion_subset.py [--path FOLDER] [--out FILE]

The full dataset is found the way ``lamina.datasets.fashion_mnist.load_data`` finds it
(``--path``, ``$LAMINA_DATA``, the cache, ``/usr/share/datasets/fashion-mnist`` from
``apt-get install dataset-fashion-mnist``, then a download).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from lamina.datasets import fashion_mnist  # noqa: E402

TRAIN_PER_CLASS = 200
TEST_PER_CLASS = 50


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` examples of each label, in ascending order.

    Args:
        labels: 1-D integer labels 0-9.
        per_class: How many examples to keep per label.

    Returns:
        Sorted ``uint16`` indices into ``labels``.

    Raises:
        ValueError: If a label has fewer than ``per_class`` examples.
    """
    chosen = []
    for label in range(len(fashion_mnist.CLASS_NAMES)):
        where = np.flatnonzero(labels == label)
        if len(where) < per_class:
            raise ValueError(
                f"label {label} has {len(where)} examples, expected at least {per_class}."
            )
        chosen.append(where[:per_class])
    return np.sort(np.concatenate(chosen)).astype(np.uint16)


def main(argv: list[str] | None = None) -> None:
    """Builds the subset and writes it as a compressed ``.npz``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=None, help="folder holding the full IDX files")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "src" / "lamina" / "datasets" / "data" / fashion_mnist.SUBSET_FILE,
    )
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.path)
    train_idx = first_per_class(y_train, TRAIN_PER_CLASS)
    test_idx = first_per_class(y_test, TEST_PER_CLASS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        x_train=x_train[train_idx],
        y_train=y_train[train_idx],
        x_test=x_test[test_idx],
        y_test=y_test[test_idx],
        train_indices=train_idx,
        test_indices=test_idx,
    )
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes, sha256 {digest})")


if __name__ == "__main__":
    main()
