"""The CNN / CRNN, its CTC loss, and its weights on disk (safetensors).

Imports core and data; the only stage (with training and export) that imports torch.
"""
