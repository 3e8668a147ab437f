import json

import pytest
import torch

from vggdeploy.artifacts.checkpoint import load_checkpoint, read_spec, save_checkpoint
from vggdeploy.errors import ArtifactError
from vggdeploy.models import build_model, make_spec
from vggdeploy.spec import ModelSpec, check_same_model


def test_spec_json_round_trip_keeps_provenance_top_level():
    spec = make_spec().with_provenance(metrics={"test_accuracy": 0.5}, data={"x": 1})
    d = spec.to_dict()
    assert d["metrics"]["test_accuracy"] == 0.5 and "provenance" not in d
    back = ModelSpec.from_json(spec.to_json())
    assert back == spec and back.provenance == spec.provenance
    assert back.fingerprint() == make_spec().fingerprint()  # provenance does not count


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d.update(format="other"), "'format'"),
        (lambda d: d.update(version=99), "unsupported version"),
        (lambda d: d.pop("arch"), "missing field"),
        (lambda d: d["input"].update(channels="x"), "invalid literal"),
        (lambda d: d.update(num_classes=0), "num_classes"),
        (lambda d: d["arch"].update(conv_arch=[[1, 8]] * 6), "too small"),
        (lambda d: d.update(class_names=["a"]), "class names"),
        (lambda d: d["preprocess"].update(mode="warp"), "preprocess.mode"),
    ],
)
def test_bad_spec_json_is_an_artifact_error(mutate, message):
    d = make_spec().to_dict()
    mutate(d)
    with pytest.raises(ArtifactError, match=message):
        ModelSpec.from_dict(d, source="model.json")


def test_not_json():
    with pytest.raises(ArtifactError, match="not valid JSON"):
        ModelSpec.from_json(b"\x00garbage", source="x.json")


def test_check_same_model_names_difference():
    with pytest.raises(ArtifactError, match="input"):
        check_same_model(make_spec(), make_spec(input_size=64), a_name="a", b_name="b")


def test_checkpoint_round_trip(tmp_path):
    spec = make_spec()
    model = build_model(spec)
    save_checkpoint(tmp_path, model, spec)
    loaded, spec2 = load_checkpoint(tmp_path)
    assert spec2 == spec and not loaded.training
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert json.loads((tmp_path / "model.json").read_text())["weights"]["sha256"]


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ArtifactError, match="checkpoint file missing"):
        load_checkpoint(tmp_path)
    with pytest.raises(ArtifactError, match="missing"):
        load_checkpoint(tmp_path / "nope.json")
    with pytest.raises(ArtifactError, match="not found"):
        load_checkpoint(tmp_path / "nope")


def test_corrupt_weights(tiny_run):
    w = tiny_run / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(ArtifactError, match="sha256 differs"):
        load_checkpoint(tiny_run)
    meta = json.loads((tiny_run / "model.json").read_text())
    del meta["weights"]
    (tiny_run / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="not a readable safetensors"):
        load_checkpoint(tiny_run)


def test_corrupt_json(tiny_run):
    (tiny_run / "model.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        read_spec(tiny_run)


def test_weights_of_another_model(tiny_run, tmp_path):
    other = make_spec(input_size=64)
    save_checkpoint(tmp_path / "other", build_model(other), other)
    (tiny_run / "model.safetensors").write_bytes(
        (tmp_path / "other/model.safetensors").read_bytes()
    )
    meta = json.loads((tiny_run / "model.json").read_text())
    del meta["weights"]
    (tiny_run / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="do not fit the ModelSpec"):
        load_checkpoint(tiny_run)


def test_expected_spec_mismatch(tiny_run):
    with pytest.raises(ArtifactError, match="different models"):
        load_checkpoint(tiny_run, expect=make_spec("d2l-vgg11-small"))
