"""Inference: the ONNX model and turning inputs into its batches (no Flask requests here)."""
