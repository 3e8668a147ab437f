"""Locate, download and verify Fashion-MNIST.

Search order: ``--data-dir``, ``$VGGDEPLOY_DATA``, ``/usr/share/datasets/fashion-mnist`` (Debian's
``dataset-fashion-mnist`` package) and the user cache (``$XDG_CACHE_HOME/vggdeploy/fashion-mnist``).
Files may be gzip-compressed or raw. Checksums are of the *decompressed* content, because
distributions re-compress the archives (Debian's .gz md5s differ from upstream's).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vggdeploy._io import write_bytes
from vggdeploy.data.idx import parse_idx, read_bytes
from vggdeploy.errors import DataError

ENV_VAR = "VGGDEPLOY_DATA"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
APT_HINT = "apt-get install -y dataset-fashion-mnist"

# split -> (images file, labels file, count)
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
# sha256 of the decompressed upstream files
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8, N x 28 x 28
    labels: np.ndarray  # int64, N
    sha256: dict[str, str]  # file name -> sha256 of its decompressed content
    root: Path

    def __len__(self) -> int:
        return len(self.labels)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vggdeploy" / "fashion-mnist"


def candidate_dirs(data_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    if data_dir:
        out.append(("--data-dir", Path(data_dir)))
    if os.environ.get(ENV_VAR):
        out.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR])))
    out.append(("system (Debian package)", SYSTEM_DIR))
    out.append(("user cache", cache_dir()))
    return out


def _find_file(root: Path, name: str) -> Path | None:
    for candidate in (root / f"{name}.gz", root / name):
        if candidate.is_file():
            return candidate
    return None


def _has_split(root: Path, split: str) -> bool:
    img, lbl, _ = FILES[split]
    return _find_file(root, img) is not None and _find_file(root, lbl) is not None


def locate(data_dir: str | os.PathLike[str] | None = None, split: str = "train") -> Path:
    """The first candidate folder holding ``split``'s two files, or a DataError listing all."""
    candidates = candidate_dirs(data_dir)
    if data_dir and not _has_split(Path(data_dir), split):
        # An explicit folder that lacks the data is an error, not a reason to look elsewhere.
        candidates = candidates[:1]
    for _, root in candidates:
        if _has_split(root, split):
            return root
    looked = "\n".join(f"  - {where}: {root}" for where, root in candidates)
    img, lbl, _ = FILES[split]
    raise DataError(
        f"Fashion-MNIST ({split} split: {img}[.gz], {lbl}[.gz]) not found. Looked in:\n{looked}",
        hint=(
            f"install it with `{APT_HINT}`, or pass --download to fetch it from the upstream "
            f"mirror into {cache_dir()}, or point --data-dir / ${ENV_VAR} at a folder holding it"
        ),
    )


def load_split(
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    verify: bool = True,
) -> Split:
    """Read one split as uint8 images and int64 labels, validating the IDX files."""
    if split not in FILES:
        raise DataError(f"unknown split {split!r}; use 'train' or 'test'")
    if download:
        try:
            root = locate(data_dir, split)
        except DataError:
            root = fetch(Path(data_dir) if data_dir else cache_dir())
    else:
        root = locate(data_dir, split)
    img_name, lbl_name, count = FILES[split]
    hashes: dict[str, str] = {}
    arrays = []
    for name in (img_name, lbl_name):
        path = _find_file(root, name)
        assert path is not None
        data = read_bytes(path)
        digest = hashlib.sha256(data).hexdigest()
        hashes[name] = digest
        arrays.append(parse_idx(data, source=str(path)))
    images, labels = arrays
    src = f"'{_find_file(root, img_name)}'"
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{src}: expected uint8 images N x H x W, got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1:
        raise DataError(f"'{_find_file(root, lbl_name)}': expected a 1-D label array")
    if len(images) != len(labels):
        raise DataError(
            f"{src} has {len(images)} images but its labels file has {len(labels)} labels",
            hint="the two files come from different datasets or one is damaged; reinstall them",
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"labels in '{root}' are outside 0..9")
    official = all(hashes[n] == SHA256[n] for n in (img_name, lbl_name))
    if verify and len(images) == count and not official:
        raise DataError(
            f"Fashion-MNIST files in '{root}' have the official size but a different checksum",
            hint="they are damaged; delete them and install / download again",
        )
    return Split(images=images, labels=labels.astype(np.int64), sha256=hashes, root=root)


def fetch(dest: Path, *, mirror: str = MIRROR, timeout: float = 60.0) -> Path:
    """Download the four files from ``mirror`` into ``dest`` and verify their sha256."""
    for split in FILES.values():
        for name in split[:2]:
            existing = _find_file(dest, name)
            if existing is not None:
                continue
            url = f"{mirror.rstrip('/')}/{name}.gz"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    blob = resp.read()
            except (urllib.error.URLError, OSError) as exc:
                raise DataError(
                    f"download of {url} failed: {exc}",
                    hint=f"check the network, or install the data with `{APT_HINT}`",
                ) from exc
            try:
                digest = hashlib.sha256(gzip.decompress(blob)).hexdigest()
            except (OSError, EOFError) as exc:
                raise DataError(f"{url} did not return a gzip file ({exc})") from exc
            if digest != SHA256[name]:
                raise DataError(
                    f"{url}: checksum mismatch (sha256 {digest}, expected {SHA256[name]})",
                    hint="the download is damaged or the mirror changed; try again later",
                )
            write_bytes(dest / f"{name}.gz", blob)
    return dest
