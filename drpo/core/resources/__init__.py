"""Vendored data, read with importlib.resources (licences in NOTICE)."""
