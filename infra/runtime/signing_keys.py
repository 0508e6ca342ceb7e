"""Local signing keys: what `Metadata.Surge.LocalSigningKeys` asks for, generated once per state dir.

On AWS a parameter such as `QueueTokenKeys` names a Secrets Manager secret. Locally there is none, so
for each entry whose parameter the user did not override, a key document is generated at
`<state>/keys/<Parameter>.json` (mode 0600, inside the git-ignored `.surge/`) and the parameter is
overridden with `file://<path>`. Every function of one runtime, and every later `surge invoke` from the
same state dir, signs and verifies with the same key; a fresh state dir means a fresh key.

    Metadata:
      Surge:
        LocalSigningKeys:
          - Parameter: QueueTokenKeys   # a declared template parameter
            Algorithm: ES256            # the only one supported
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from infra.template.errors import TemplateError
from infra.template.metadata_entries import parameter_entries
from infra.template.yaml_loader import read_template_file
from waiting_room.logic.tokens import KeyStatus, key_document

ALGORITHMS = ("ES256",)


@dataclass(frozen=True)
class LocalSigningKey:
    parameter: str
    algorithm: str


def declared_signing_keys(raw_template: Mapping[str, Any]) -> list[LocalSigningKey]:
    """The validated entries; TemplateError naming the entry for anything unexpected."""
    result: list[LocalSigningKey] = []
    for at, entry in parameter_entries(raw_template, "LocalSigningKeys", {"Algorithm"}):
        algorithm = entry.get("Algorithm")
        if algorithm not in ALGORITHMS:
            raise TemplateError(
                f"Algorithm {algorithm!r} is not supported; use one of {list(ALGORITHMS)} (at {at}.Algorithm)"
            )
        result.append(LocalSigningKey(entry["Parameter"], algorithm))
    return result


def local_signing_key_overrides(
    template_path: Path, overrides: Mapping[str, str], state_dir: Path
) -> dict[str, str]:
    """What `resolve_template` adds to the parameter overrides (errors name the template file)."""
    path = Path(template_path).absolute()
    raw = read_template_file(path)
    try:
        return signing_key_overrides(raw, overrides, state_dir)
    except TemplateError as exc:
        raise TemplateError(f"{path}: {exc}") from exc


def signing_key_overrides(
    raw_template: Mapping[str, Any], overrides: Mapping[str, str], state_dir: Path
) -> dict[str, str]:
    """{Parameter: file://<path>} for every declared key the user did not override (files made once)."""
    return {
        key.parameter: (ensure_key_file(state_dir / "keys" / f"{key.parameter}.json")).as_uri()
        for key in declared_signing_keys(raw_template)
        if key.parameter not in overrides
    }


def ensure_key_file(path: Path) -> Path:
    """Create the key document at `path` unless it exists; safe when several processes race to it."""
    if path.exists():
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    kid = f"local-{secrets.token_hex(4)}"
    text = json.dumps(key_document([(kid, KeyStatus.ACTIVE, ec.generate_private_key(ec.SECP256R1()))]))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        # link() fails if another process got there first: the first complete file wins, none is torn.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
