"""Export a trained student to an ONNX voice package: fp32, fp16 and int8 variants, parity checks."""
