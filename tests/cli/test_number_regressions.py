"""Issue 19, class 7: the examples, each run for real through ``vggdeploy.cli.main`` (no spies).
Every case here failed on main before the fix (the comment says how), and the Triton cases check
the written config against Triton's own ModelConfig protobuf, not against our bounds."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from vggdeploy.cli import main
from vggdeploy.cli.triton import triton_repo

HUGE = "99999999999999999999"  # > 2**64


def _exit(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.fixture(scope="module")
def onnx_run(tmp_path_factory: pytest.TempPathFactory, _trained_run: Path, fake_data: Path) -> Path:
    """The tiny run with its model.onnx (fp32 only: a few seconds)."""
    from vggdeploy.export.pipeline import export_variants

    run = tmp_path_factory.mktemp("numbers") / "run"
    shutil.copytree(_trained_run, run)
    export_variants(run, precisions="fp32", data_dir=fake_data, max_batch=4, simplify=False)
    return run


def _bench(run: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["bench", str(run), "--backends", "torch", "--precisions", "fp32", "--batch-sizes", "1",
            "--iters", "1", "--repeats", "1", "--warmup", "0", "--no-accuracy", "--data-dir",
            str(data), "--out", str(out), *extra]  # fmt: skip


def _train(tmp: Path, data: Path, *extra: str) -> list[str]:
    return ["train", "--out", str(tmp / "t"), "--data-dir", str(data), "--epochs", "1",
            "--limit-train", "64", "--limit-test", "64", *extra]  # fmt: skip


CASES = [
    # main: torch's layer_shapes raised RuntimeError (exit 1, a traceback)
    ("summary-batch-huge", lambda c: ["summary", "--batch", HUGE], "--batch"),
    # main: exit 0, a batch of 12 (Python's int() reads Arabic-Indic digits)
    ("summary-batch-unicode", lambda c: ["summary", "--batch", "١٢"], "--batch"),
    # main: ValueError from int('²') in parse_device ('²'.isdigit() is True): exit 1
    (
        "bench-device-superscript",
        lambda c: _bench(c["run"], c["data"], c["tmp"] / "b", "--device", "cuda:²"),
        "--device",
    ),  # fmt: skip
    # main: torch.set_num_threads raised 'Overflow when unpacking long': exit 1
    (
        "bench-threads-huge",
        lambda c: _bench(c["run"], c["data"], c["tmp"] / "b", "--threads", "99999999999"),
        "--threads",
    ),  # fmt: skip
    # main: OverflowError in the schedule (0.2 * epochs as a float): exit 1 after loading data
    (
        "train-epochs-400-digits",
        lambda c: _train(c["tmp"], c["data"], "--epochs", "9" * 400),
        "--epochs",
    ),  # fmt: skip
    # main: exit 0; the value was accepted and never used
    ("train-workers-huge", lambda c: _train(c["tmp"], c["data"], "--workers", HUGE), "--workers"),
    # main: exit 6 'no GPU' on a CPU machine for a device index int() cannot read
    (
        "train-device-superscript",
        lambda c: _train(c["tmp"], c["data"], "--device", "cuda:²"),
        "--device",
    ),  # fmt: skip
    # main: exit 0 with max_batch 10**20 (no runtime holds a batch beyond int32)
    (
        "predict-max-batch-huge",
        lambda c: ["predict", str(c["run"]), str(c["image"]), "--max-batch", HUGE],
        "--max-batch",
    ),  # fmt: skip
    # main: exit 0, config.pbtxt with max_queue_delay_microseconds 2**64 (Triton's uint64 field
    # cannot hold it; the server refuses the model at load)
    (
        "triton-queue-delay-2**64",
        lambda c: [
            "triton-repo",
            str(c["run"]),
            "-o",
            str(c["tmp"] / "r"),
            "--max-queue-delay-us",
            str(2**64),
        ],
        "--max-queue-delay-us",
    ),  # fmt: skip
    # main: accepted; the run went on to its variant (here exit 4: none exported); with one, no
    # layer can ever meet a NaN target (a silent non-answer)
    (
        "debug-max-drop-nan",
        lambda c: ["debug-precision", str(c["run"]), "--max-drop", "nan"],
        "--max-drop",
    ),  # fmt: skip
    # main: accepted as 2 GiB; the build went on (here exit 5: no TensorRT on this machine)
    (
        "build-engine-workspace-unicode",
        lambda c: ["build-engine", str(c["run"] / "model.onnx"), "--workspace", "٢G"],
        "--workspace",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("name", "argv", "option"), CASES, ids=[c[0] for c in CASES])
def test_example_refused(name, argv, option, onnx_run, fake_data, tmp_path, capsys) -> None:
    image = tmp_path / "img.npy"
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, 8:20] = 200
    np.save(image, pixels)
    ctx = {"run": onnx_run, "data": fake_data, "tmp": tmp_path, "image": image}
    code, err = _exit(argv(ctx), capsys)
    assert code == 2, f"{name}: exit {code}\n{err}"
    assert f"'{option}'" in err, f"{name}: message does not name {option}\n{err}"


# ---- Triton: the option ranges against the format the values are written to --------------------
# triton-repo option -> the ModelConfig field it is written to (model_config.proto)
TRITON_FIELDS = {
    "max_batch": ("ModelConfig", "max_batch_size"),
    "instances": ("ModelInstanceGroup", "count"),
    "preferred_batch_sizes": ("ModelDynamicBatching", "preferred_batch_size"),
    "max_queue_delay_us": ("ModelDynamicBatching", "max_queue_delay_microseconds"),
}


def _proto():
    return pytest.importorskip("tritonclient.grpc.model_config_pb2")


def _proto_range(message: str, fieldname: str) -> tuple[int, int]:
    from google.protobuf.descriptor import FieldDescriptor as F

    desc = getattr(_proto(), message).DESCRIPTOR.fields_by_name[fieldname]
    return {
        F.TYPE_INT32: (-(2**31), 2**31 - 1),
        F.TYPE_INT64: (-(2**63), 2**63 - 1),
        F.TYPE_UINT32: (0, 2**32 - 1),
        F.TYPE_UINT64: (0, 2**64 - 1),
    }[desc.type]


def _bounds(dest: str):
    param = next(p for p in triton_repo.params if p.name == dest)
    t = getattr(param.type, "item", param.type)  # a list's item type
    return t.min, t.max


@pytest.mark.parametrize("dest", sorted(TRITON_FIELDS))
def test_triton_option_range_fits_the_proto(dest: str) -> None:
    lo, hi = _proto_range(*TRITON_FIELDS[dest])
    opt_lo, opt_hi = _bounds(dest)
    assert opt_lo is not None and opt_hi is not None, f"--{dest} is unbounded"
    assert lo <= opt_lo and opt_hi <= hi, f"--{dest} [{opt_lo}, {opt_hi}] exceeds [{lo}, {hi}]"


def test_triton_extremes_parse_as_model_config(onnx_run: Path, tmp_path: Path, capsys) -> None:
    """Each option at its declared maximum writes a config Triton's protobuf parser accepts with
    that value; one past it is refused (exit 2 naming the option)."""
    from google.protobuf import text_format

    pb = _proto()
    top = {d: _bounds(d)[1] for d in TRITON_FIELDS}
    argv = ["triton-repo", str(onnx_run), "-o", str(tmp_path / "repo"), "--max-batch",
            str(top["max_batch"]), "--instances", str(top["instances"]),
            "--preferred-batch-sizes", f"1,{top['preferred_batch_sizes']}",
            "--max-queue-delay-us", str(top["max_queue_delay_us"])]  # fmt: skip
    code, err = _exit(argv, capsys)
    assert code == 0, err
    [config] = (tmp_path / "repo").glob("*/config.pbtxt")
    cfg = text_format.Parse(config.read_text(), pb.ModelConfig())
    assert cfg.max_batch_size == top["max_batch"]
    assert cfg.instance_group[0].count == top["instances"]
    assert list(cfg.dynamic_batching.preferred_batch_size) == [1, top["preferred_batch_sizes"]]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == top["max_queue_delay_us"]
    for i, dest in enumerate(sorted(TRITON_FIELDS)):
        opt = "--" + dest.replace("_", "-")
        code, err = _exit(["triton-repo", str(onnx_run), "-o", str(tmp_path / f"r{i}"), opt,
                           str(top[dest] + 1)], capsys)  # fmt: skip
        assert code == 2 and f"'{opt}'" in err, err
