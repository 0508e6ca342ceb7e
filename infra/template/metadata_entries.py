"""Entries of a `Metadata.Surge.<Name>` list that each name a template parameter (LocalSigningKeys,
LocalReceivers): the list's shape, the keys of each entry and the parameter are checked here, once;
what an entry's other keys mean is its reader's to check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.template.errors import TemplateError


def parameter_entries(
    raw_template: Mapping[str, Any], name: str, keys: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """[(where, entry)] of `Metadata.Surge.<name>`: each a mapping with only `keys`, whose `Parameter`
    is a declared template parameter named by one entry only. TemplateError naming the entry."""
    where = f"Metadata.Surge.{name}"
    metadata = raw_template.get("Metadata") or {}
    surge = metadata.get("Surge") if isinstance(metadata, dict) else None
    entries = surge.get(name) if isinstance(surge, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise TemplateError(f"{name} must be a list (at {where})")
    declared_parameters = raw_template.get("Parameters") or {}
    result: list[tuple[str, dict[str, Any]]] = []
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise TemplateError(f"an entry of {name} must be a mapping (at {at})")
        unknown = sorted(set(entry) - keys - {"Parameter"})
        if unknown:
            raise TemplateError(f"an entry of {name} has unknown keys {unknown} (at {at})")
        parameter = entry.get("Parameter")
        if not isinstance(parameter, str) or parameter not in declared_parameters:
            raise TemplateError(
                f"Parameter {parameter!r} is not a declared template parameter (at {at}.Parameter)"
            )
        result.append((at, entry))
    parameters = [entry["Parameter"] for _, entry in result]
    repeated = sorted({p for p in parameters if parameters.count(p) > 1})
    if repeated:
        raise TemplateError(f"entries of {name} declared twice for {repeated} (at {where})")
    return result
