"""Where the token signing keys come from: TOKEN_KEYS names a Secrets Manager secret or a local file.

- `arn:<partition>:secretsmanager:...`: read with Powertools `parameters.get_secret`, cached for
  `max_age` seconds, so a rotated secret is picked up without a redeploy;
- `file:///abs/path`: what the local runtime generates per stack (re-read after `max_age` too).

Anything else, or an empty value, is a ConfigError naming TOKEN_KEYS. The document's shape is checked
by `parse_key_set` (exactly one active key, ES256 P-256 PKCS8 PEMs).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from aws_lambda_powertools.utilities import parameters

from common.settings import ConfigError
from waiting_room.logic.tokens import KeySet, Tokens, parse_key_set

VARIABLE = "TOKEN_KEYS"
# How long a loaded key set is used before the source is read again: the upper bound on how late a
# function sees a rotation step (docs/waiting-room-tokens.md waits at least this long between steps).
DEFAULT_MAX_AGE_SECONDS = 300
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")


class TokenKeys:
    """The current key set from TOKEN_KEYS, re-read at most every `max_age` seconds."""

    def __init__(
        self,
        source: str,
        *,
        max_age: int = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = _reader(source, max_age, clock)
        self._raw: str | None = None
        self._tokens: Tokens | None = None

    def current(self) -> Tokens:
        """Tokens bound to the current keys (mint, verify, jwks); parsed again only when they changed."""
        raw = self._read()
        if self._tokens is None or raw != self._raw:
            self._tokens = Tokens(parse_key_set(raw, VARIABLE))
            self._raw = raw
        return self._tokens

    def key_set(self) -> KeySet:
        return self.current().key_set


def _reader(source: str, max_age: int, clock: Callable[[], float]) -> Callable[[], str]:
    source = source.strip()
    if _SECRET_ARN.match(source):
        # Powertools keeps the value for max_age seconds: one GetSecretValue per environment per max_age.
        return lambda: _secret(source, max_age)
    if source.startswith("file://"):
        url = urlparse(source)
        path = Path(unquote(url.path))
        if url.netloc or not path.is_absolute():
            raise ConfigError(f"{VARIABLE} must be file:///absolute/path, not {source!r}")
        return _CachedFile(path, max_age, clock)
    shown = source if len(source) < 200 else source[:200] + "..."
    raise ConfigError(
        f"{VARIABLE} must be a Secrets Manager secret ARN (arn:aws:secretsmanager:...) or "
        f"file:///absolute/path, got {shown!r}"
    )


class _CachedFile:
    def __init__(self, path: Path, max_age: int, clock: Callable[[], float]) -> None:
        self._path = path
        self._max_age = max_age
        self._clock = clock
        self._text: str | None = None
        self._read_at = 0.0

    def __call__(self) -> str:
        if self._text is None or self._clock() - self._read_at >= self._max_age:
            self._text = _file(self._path)
            self._read_at = self._clock()
        return self._text


def _secret(arn: str, max_age: int) -> str:
    value = parameters.get_secret(arn, max_age=max_age)
    if not isinstance(value, str):
        raise ConfigError(f"{VARIABLE}: secret {arn} must hold a JSON string, not binary")
    return value


def _file(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"{VARIABLE}: cannot read key file {path}: {exc.strerror}") from exc
