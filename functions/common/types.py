"""Field types and time helpers shared by every capability's models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

# Ids that travel in paths, keys and Kafka keys: letters, digits, '_' and '-', 1 to 64 characters.
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# Timezone required on input, always stored and compared in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """ISO-8601 UTC with a `Z` suffix and millisecond precision (sortable as a string)."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
