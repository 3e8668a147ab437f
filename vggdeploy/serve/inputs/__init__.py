"""What users pass to ``Predictor.predict`` -> the model's float32 N x C x H x W batch.

* :mod:`.contract` — the accepted-inputs contract as tables (README "Accepted inputs" is rendered
  from them): every dtype x value range, image mode and array layout is read one way or refused;
* :mod:`.arrays` — numpy arrays / torch tensors -> 8-bit grayscale images;
* :mod:`.decode` — files, stdin, encoded bytes, PIL images -> 8-bit grayscale images;
* :mod:`.batch` — :func:`to_batch`: checks, light-background warnings, fitting, preprocessing.
"""

from __future__ import annotations

from vggdeploy.serve.inputs.arrays import scale_16bit
from vggdeploy.serve.inputs.batch import (
    Batch,
    InputWarning,
    fit_to,
    light_background,
    preprocessed_range,
    to_batch,
)
from vggdeploy.serve.inputs.contract import MIN_SIDE
from vggdeploy.serve.inputs.decode import decode_image, pil_gray

__all__ = [
    "MIN_SIDE",
    "Batch",
    "InputWarning",
    "decode_image",
    "fit_to",
    "light_background",
    "pil_gray",
    "preprocessed_range",
    "scale_16bit",
    "to_batch",
]
