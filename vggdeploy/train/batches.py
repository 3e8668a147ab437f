"""Training data as in-memory arrays: the epoch's shuffled, augmented batches, drawn from one
random stream per (seed, epoch) so that a run resumed mid-epoch sees exactly the same batches."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from vggdeploy.data.fashion_mnist import Split
from vggdeploy.data.preprocess import preprocess
from vggdeploy.spec import ModelSpec

if TYPE_CHECKING:
    from vggdeploy.train.config import TrainConfig
    from vggdeploy.train.distributed import Dist


def augment(
    images: np.ndarray, rng: np.random.Generator, shift: int = 2, erase: float = 0.0, fill: int = 0
) -> np.ndarray:
    """Random horizontal flip, translation by up to ``shift`` pixels (zero fill) and, with
    probability ``erase``, random erasing (Zhong et al. 2017: a box of 2-25 % of the image with
    aspect ratio 0.3-3.3, set to ``fill``), all on uint8 images."""
    n, h, w = images.shape
    flip = rng.random(n) < 0.5
    out = np.where(flip[:, None, None], images[:, :, ::-1], images)
    padded = np.pad(out, ((0, 0), (shift, shift), (shift, shift)))
    dy = rng.integers(0, 2 * shift + 1, n)
    dx = rng.integers(0, 2 * shift + 1, n)
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if erase > 0:
        area = rng.uniform(0.02, 0.25, n) * h * w
        aspect = np.exp(rng.uniform(math.log(0.3), math.log(1 / 0.3), n))
        eh = np.clip(np.rint(np.sqrt(area * aspect)), 1, h).astype(np.int64)
        ew = np.clip(np.rint(np.sqrt(area / aspect)), 1, w).astype(np.int64)
        y0 = np.floor(rng.random(n) * (h - eh + 1)).astype(np.int64)
        x0 = np.floor(rng.random(n) * (w - ew + 1)).astype(np.int64)
        on = rng.random(n) < erase
        ys, xs = np.arange(h)[None, :], np.arange(w)[None, :]
        in_y = (ys >= y0[:, None]) & (ys < (y0 + eh)[:, None])
        in_x = (xs >= x0[:, None]) & (xs < (x0 + ew)[:, None])
        out[in_y[:, :, None] & in_x[:, None, :] & on[:, None, None]] = fill
    return out


def batches(split: Split, spec: ModelSpec, cfg: TrainConfig, epoch: int, dist: Dist, skip: int = 0):
    """Yield (x, y) NumPy batches of this rank's shard for ``epoch`` (deterministic).

    The first ``skip`` batches are not produced, but their random draws are, so a run resumed
    mid-epoch sees exactly the batches the uninterrupted run saw.
    """
    rng = np.random.default_rng([cfg.seed, epoch])
    order = rng.permutation(len(split))
    per_rank = len(order) // dist.world
    order = order[dist.rank * per_rank : (dist.rank + 1) * per_rank]
    batch = max(1, cfg.batch_size // dist.world)
    for i, start in enumerate(range(0, len(order), batch)):
        idx = np.sort(order[start : start + batch])
        imgs = split.images[idx]
        if cfg.augment:
            imgs = augment(imgs, rng, erase=cfg.erase, fill=erase_fill(spec))
        if i >= skip:
            yield preprocess(imgs, spec), split.labels[idx]


def erase_fill(spec: ModelSpec) -> int:
    """The uint8 pixel that preprocessing maps to 0 (the dataset mean): erased boxes carry no
    signal after normalisation."""
    return int(round(spec.preprocess.mean[0] / spec.preprocess.scale))


def limit(split: Split, n: int | None) -> Split:
    if n is None or n >= len(split):
        return split
    return Split(split.images[:n], split.labels[:n], split.sha256, split.root)
