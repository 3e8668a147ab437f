import gzip
import hashlib
import io

import numpy as np
import pytest

from vggdeploy.cli import main
from vggdeploy.data import fashion_mnist as fm
from vggdeploy.data.idx import write_idx
from vggdeploy.data.preprocess import preprocess
from vggdeploy.errors import DataError, UsageError
from vggdeploy.models import make_spec

from conftest import make_images, write_dataset


def test_load_split_from_data_dir(fake_data):
    split = fm.load_split("train", fake_data)
    assert split.images.shape == (512, 28, 28) and split.images.dtype == np.uint8
    assert split.labels.dtype == np.int64 and len(split) == 512
    assert set(split.sha256) == {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"}


def test_raw_files_are_read_too(tmp_path):
    root = write_dataset(tmp_path / "raw", 20, 10, compress=False)
    assert len(fm.load_split("test", root)) == 10


def test_search_order_env_then_system_then_cache(tmp_path, monkeypatch):
    env_dir = write_dataset(tmp_path / "env", 8, 8)
    sys_dir = write_dataset(tmp_path / "sys", 8, 8)
    monkeypatch.setattr(fm, "SYSTEM_DIR", sys_dir)
    assert fm.locate() == sys_dir
    monkeypatch.setenv(fm.ENV_VAR, str(env_dir))
    assert fm.locate() == env_dir
    explicit = write_dataset(tmp_path / "explicit", 8, 8)
    assert fm.locate(explicit) == explicit
    monkeypatch.delenv(fm.ENV_VAR)
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "none")
    cache = write_dataset(fm.cache_dir(), 8, 8)
    assert fm.locate() == cache


def test_not_found_names_every_place_and_the_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv(fm.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(DataError) as err:
        fm.load_split("train", tmp_path / "given")
    text = str(err.value)
    assert str(tmp_path / "given") in text
    assert "--download" in text and "dataset-fashion-mnist" in text
    with pytest.raises(DataError) as err:
        fm.load_split("train")
    text = str(err.value)
    for place in (str(tmp_path / "env"), str(fm.SYSTEM_DIR), str(fm.cache_dir())):
        assert place in text


def test_image_label_count_mismatch(tmp_path):
    root = write_dataset(tmp_path, 16, 8)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.zeros(7, np.uint8), compress=True)
    with pytest.raises(DataError, match="8 images but its labels file has 7"):
        fm.load_split("test", root)


def test_labels_out_of_range(tmp_path):
    root = write_dataset(tmp_path, 16, 8)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.full(8, 12, np.uint8), compress=True)
    with pytest.raises(DataError, match="outside 0..9"):
        fm.load_split("test", root)


def test_official_size_with_wrong_checksum_is_rejected(tmp_path, monkeypatch):
    root = write_dataset(tmp_path, 16, 8)
    monkeypatch.setitem(fm.FILES, "test", (*fm.FILES["test"][:2], 8))
    with pytest.raises(DataError, match="different checksum"):
        fm.load_split("test", root)


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _serve(monkeypatch, files: dict[str, bytes], requested: list[str]):
    def urlopen(url, timeout=None):
        requested.append(url)
        return _FakeResponse(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(fm.urllib.request, "urlopen", urlopen)


def _mirror_files(monkeypatch):
    files, digests = {}, {}
    for prefix, n, seed in (("train", 12, 1), ("t10k", 6, 2)):
        images, labels = make_images(n, seed)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            raw = _idx_bytes(arr)
            files[f"{name}.gz"] = gzip.compress(raw)
            digests[name] = hashlib.sha256(raw).hexdigest()
    monkeypatch.setattr(fm, "SHA256", digests)
    return files


def _idx_bytes(arr):
    import struct

    return (
        struct.pack(">HBB", 0, 8, arr.ndim)
        + struct.pack(f">{arr.ndim}I", *arr.shape)
        + (arr.astype(np.uint8).tobytes())
    )


def test_download_verifies_decompressed_checksums(tmp_path, monkeypatch):
    files = _mirror_files(monkeypatch)
    requested: list[str] = []
    _serve(monkeypatch, files, requested)
    split = fm.load_split("train", download=True)
    assert len(split) == 12 and split.root == fm.cache_dir()
    assert len(requested) == 4 and all(u.startswith(fm.MIRROR) for u in requested)
    # Re-compressed content (as Debian ships it) still verifies: checksums are of the content.
    fm.load_split("test", download=True)
    assert len(requested) == 4


def test_download_checksum_mismatch_writes_nothing(tmp_path, monkeypatch):
    files = _mirror_files(monkeypatch)
    name = "train-images-idx3-ubyte.gz"
    files[name] = gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    _serve(monkeypatch, files, [])
    with pytest.raises(DataError, match="checksum mismatch"):
        fm.load_split("train", download=True)
    assert not (fm.cache_dir() / name).exists()


def test_download_network_failure_is_clear(monkeypatch):
    def urlopen(url, timeout=None):
        raise fm.urllib.error.URLError("no route")

    monkeypatch.setattr(fm.urllib.request, "urlopen", urlopen)
    with pytest.raises(DataError, match="download of .* failed"):
        fm.load_split("train", download=True)


def test_cli_train_without_data_exits_3(tmp_path, capsys):
    code = main(["train", "--out", str(tmp_path / "r"), "--data-dir", str(tmp_path / "none")])
    assert code == 3
    err = capsys.readouterr().err
    assert "not found" in err and "dataset-fashion-mnist" in err
    assert not (tmp_path / "r" / "model.json").exists()


def test_preprocess_pad_and_resize_match_torch():
    import torch
    import torch.nn.functional as F

    images, _ = make_images(4, 0)
    spec = make_spec("vgg-mini")  # pad 28 -> 32
    x = preprocess(images, spec)
    assert x.shape == (4, 1, 32, 32) and x.dtype == np.float32
    bg = (0 - 0.2860) / 0.3530
    assert np.allclose(x[:, :, :2, :], bg) and np.allclose(x[:, :, 30:, :], bg)
    np.testing.assert_allclose(x[:, 0, 2:30, 2:30], (images / 255.0 - 0.2860) / 0.3530, atol=1e-6)
    spec224 = make_spec("d2l-vgg11-small")
    y = preprocess(images, spec224)
    ref = F.interpolate(
        torch.from_numpy(images[:, None] / 255.0).float(),
        size=(224, 224),
        mode="bilinear",
        align_corners=False,
    )
    np.testing.assert_allclose(y, ((ref - 0.2860) / 0.3530).numpy(), atol=1e-5)


def test_preprocess_rejects_bad_input():
    with pytest.raises(UsageError, match="uint8"):
        preprocess(np.zeros((1, 28, 28), np.float32), make_spec())
    with pytest.raises(UsageError, match="shape"):
        preprocess(np.zeros((1, 2, 3, 4, 5), np.uint8), make_spec())
    rgb = make_spec("vgg11", in_channels=3, num_classes=1000)
    assert preprocess(np.zeros((2, 28, 28), np.uint8), rgb).shape == (2, 3, 224, 224)
