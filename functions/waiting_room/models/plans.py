"""Decisions the logic makes and the DAL commits."""

from __future__ import annotations

from dataclasses import dataclass, field

from waiting_room.models.items import AliasItem, EntryItem


@dataclass(frozen=True)
class NewEntry:
    entry: EntryItem
    replaces: str | None  # the user's previous (ended) entry id, which the pointer must still name


@dataclass
class GroupPlan:
    new_entries: list[NewEntry] = field(default_factory=list)
    aliases: list[AliasItem] = field(default_factory=list)
    already_done: int = 0

    @property
    def has_writes(self) -> bool:
        return bool(self.new_entries or self.aliases)
