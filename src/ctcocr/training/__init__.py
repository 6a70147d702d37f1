"""Training: datasets and loaders, shards, several processes, checks before the first step,
where the weights start, the loop, what it writes, compare and demo.

Imports every stage below it.
"""
