import json


def test_tiny_run_has_checkpoint(tiny_run):
    meta = json.loads((tiny_run / "model.json").read_text())
    assert meta["preset"] == "vgg-mini"
    assert 0.0 <= meta["metrics"]["test_accuracy"] <= 1.0
    assert (tiny_run / "model.safetensors").stat().st_size > 1000
