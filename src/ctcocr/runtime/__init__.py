"""Reading images with a trained model: the public `Recognizer`, the onnxruntime backend, and
the torch backend (imported only when a run folder is opened).

Imports core, data, decoding (network lazily); never torch at import time.
"""
