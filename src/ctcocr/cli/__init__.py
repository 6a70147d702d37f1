"""The `ctcocr` command: parses flags (derived from the config dataclasses) and calls the
package; no logic of its own.
"""
