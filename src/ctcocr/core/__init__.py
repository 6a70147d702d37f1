"""The foundation: errors, the charset, the configuration dataclasses, run folders, the version.

Imports nothing else of ctcocr.
"""
