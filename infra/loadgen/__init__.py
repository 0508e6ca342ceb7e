"""Bounded HTTP load against the local API (loopback only), with live progress."""
