"""From per-column scores to text: greedy CTC decoding, the decoder and its options, beam
search, constraints and patterns.

Imports core only; numpy, never torch.
"""
