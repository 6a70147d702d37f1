"""ONNX export, quantisation and verification against the PyTorch run."""
