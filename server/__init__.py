"""Moot: a USENET-style community discussion server."""

__version__ = "0.1.0"
