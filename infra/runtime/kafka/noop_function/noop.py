"""A handler that does nothing: the function the benchmark measures the runtime with."""

from typing import Any


def handler(event: Any, context: Any) -> None:
    return None
