"""What each file is and what it records: ``checkpoint`` (safetensors + ``model.json``),
``onnx_meta`` (every ONNX ``metadata_props`` key, reading/writing the ModelSpec), ``variants``
(precision variants: names, tags, targets), ``provenance`` (what an artifact records about its
origin and how recorded hashes are compared). No runtime is imported here."""
