"""How good a model is and where it fails: scores, confusions, calibration, the report, the
alignment view.

Imports the stages below it: core, data, decoding, runtime.
"""
