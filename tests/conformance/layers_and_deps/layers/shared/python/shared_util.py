"""Shared code, as a layer's python/ folder carries it (Lambda's /opt/python)."""

GREETING = "from the shared layer"
