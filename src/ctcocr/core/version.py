"""The version of ctcocr, stored in every run folder and exported model."""

__version__ = "0.1.0"
