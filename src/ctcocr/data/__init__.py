"""Images and labelled samples: loading and preprocessing, discovery on disk, augmentation,
synthesis, rare-character repeating, packing into shards.

Imports core only; never torch.
"""
