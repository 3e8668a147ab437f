"""Serving: ``load(path) -> Predictor`` (Python), Triton model repositories (``triton``)."""

from vggdeploy.serve.predictor import Predictions, Predictor, artifact_backend, load

__all__ = ["Predictions", "Predictor", "artifact_backend", "load"]
