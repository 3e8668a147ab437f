"""The served model's inference callable without a server: any mix of good and bad requests in one
dynamic batch gives each good request exactly its own rows and each bad one its own error
(generated mixes), and the artifact watch refuses once a served file changes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import copy_model, png_bytes

from vggdeploy.serve.handler import ERROR_OUTPUT, ArtifactWatch, InferenceCallable
from vggdeploy.serve.inputs import to_batch
from vggdeploy.serve.predictor import load

from conftest import make_images


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    run = copy_model(tmp_path_factory.mktemp("handler") / "m")
    with load(run) as predictor:
        yield SimpleNamespace(
            run=run,
            predictor=predictor,
            callable=InferenceCallable(predictor, ArtifactWatch(run)),
            want=predictor.logits(to_batch(IMAGES, predictor.spec)[0]),
        )


IMAGES, _ = make_images(16, seed=3)
BAD = {
    "garbage": lambda: {"image": np.array([[b"garbage"]], dtype=np.object_)},
    "nan": None,  # needs the spec: _bad builds it
    "two inputs": lambda: {
        "image": np.array([[png_bytes(IMAGES[0])]], dtype=np.object_),
        "image_base64": np.array([[b"eA=="]], dtype=np.object_),
    },
    "no input": lambda: {},
    "bad base64": lambda: {"image_base64": np.array([[b"***"]], dtype=np.object_)},
}


def _good(rows: list[int], form: str, spec) -> dict:
    if form == "tensor":
        return {spec.input.name: to_batch(IMAGES[rows], spec)[0]}
    return {"image": np.array([[png_bytes(IMAGES[i])] for i in rows], dtype=np.object_)}


def _bad(kind: str, spec) -> dict:
    if kind == "nan":
        batch = to_batch(IMAGES[:2], spec)[0]
        batch[1, 0, 0, 0] = np.nan
        return {spec.input.name: batch}
    return BAD[kind]()


request_plan = st.lists(
    st.one_of(
        st.tuples(
            st.just("good"),
            st.lists(st.integers(0, 15), min_size=1, max_size=5),
            st.sampled_from(["tensor", "png"]),
        ),
        st.tuples(st.just("bad"), st.sampled_from(sorted(BAD)), st.just("")),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=request_plan)
def test_each_request_gets_its_own_rows_or_its_own_error(served, plan) -> None:
    spec = served.predictor.spec
    want = served.want
    requests = [_good(a, b, spec) if kind == "good" else _bad(a, spec) for kind, a, b in plan]
    responses = served.callable(requests)
    assert len(responses) == len(requests)
    for (kind, rows, _), response in zip(plan, responses, strict=True):
        if kind == "bad":
            assert set(response) == {ERROR_OUTPUT}, (rows, response)
            continue
        assert ERROR_OUTPUT not in response, response.get(ERROR_OUTPUT)
        np.testing.assert_allclose(response["logits"], want[rows], rtol=0, atol=1e-5)
        assert response["class_id"][:, 0].tolist() == want[rows].argmax(axis=1).tolist()
        names = [served.predictor.labels[i].encode() for i in want[rows].argmax(axis=1)]
        assert response["class_name"][:, 0].tolist() == names


def test_error_names_the_input_and_the_problem(served) -> None:
    (response,) = served.callable([BAD["garbage"]()])
    message = response[ERROR_OUTPUT][0].decode()
    assert message.startswith("input 'image': cannot read image"), message


def test_watch_refuses_after_a_served_file_changes_and_accepts_it_restored(served) -> None:
    weights: Path = served.run / "model.safetensors"
    original = weights.read_bytes()
    good = _good([0], "png", served.predictor.spec)
    try:
        weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        (response,) = served.callable([good])
        assert "stale artifact" in response[ERROR_OUTPUT][0].decode()
        assert "model.safetensors" in response[ERROR_OUTPUT][0].decode()
    finally:
        weights.write_bytes(original)
    (response,) = served.callable([good])
    assert ERROR_OUTPUT not in response
    weights.touch()  # a new mtime with the same bytes is not a change
    (response,) = served.callable([good])
    assert ERROR_OUTPUT not in response
