"""The HTTP service: the app, reading requests, batching, the page.

Imports core, data, decoding and runtime.
"""
