"""The export stage, in reading order: ``onnx`` (checkpoint -> verified ``model.onnx``; the one
FP32 entry point) -> ``fp16`` / ``quantize`` / ``keep`` (the variant builders: FP16 conversion,
INT8 Q/DQ, layers kept in FP32) -> ``verify`` / ``judge`` (compare runners, judge and write a
variant) -> ``pipeline`` (read once -> make the variants -> judge -> write)."""
