"""The waiting room's access tokens: ES256 JWTs that any API can verify with the published JWKS.

Pure: given the loaded signing keys (`KeySet`), mint, verify and publish. Where the keys come from
(Secrets Manager, a local file) is `waiting_room.token_keys`.

A token says: user `sub` holds queue entry `jti` (at `position`) for concert `aud`, active until `exp`.
Key rotation goes active -> verify -> retired: only the active key signs, active and verify keys
verify and are published, retired keys are neither (a token they signed is refused).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from http import HTTPStatus
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from jwt.algorithms import ECAlgorithm
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.http import describe_validation_error
from common.settings import ConfigError
from common.types import Identifier

ALGORITHM = "ES256"
# Verifying functions may run on a clock slightly behind the minting one: a token minted "now" must not
# be refused as not yet valid. Expiry gets no leeway: `exp` is the end of the session.
NOT_BEFORE_LEEWAY_SECONDS = 5
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "jti", "position", "iat", "nbf", "exp"]


class KeyStatus(StrEnum):
    ACTIVE = "active"  # signs new tokens (exactly one), verifies, published
    VERIFY = "verify"  # verifies and is published (next key before promotion, or previous key after)
    RETIRED = "retired"  # neither: tokens it signed are refused


@dataclass(frozen=True)
class SigningKey:
    kid: str
    status: KeyStatus
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()


@dataclass(frozen=True)
class KeySet:
    keys: tuple[SigningKey, ...]

    @property
    def active(self) -> SigningKey:
        return next(key for key in self.keys if key.status is KeyStatus.ACTIVE)

    def get(self, kid: str) -> SigningKey | None:
        return next((key for key in self.keys if key.kid == kid), None)


class _KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kid: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    alg: str
    privateKey: str = Field(min_length=1)
    status: KeyStatus


class _KeyDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: list[_KeyEntry] = Field(min_length=1)


def parse_key_set(document: str | dict[str, Any], source: str = "TOKEN_KEYS") -> KeySet:
    """{"keys": [{"kid", "alg": "ES256", "privateKey": PKCS8 PEM, "status"}]} -> KeySet.

    Raises ConfigError naming `source`; never echoes key material.
    """
    try:
        parsed = (
            _KeyDocument.model_validate_json(document)
            if isinstance(document, str)
            else _KeyDocument.model_validate(document)
        )
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, prefix=f"{source}: invalid key document: ")) from exc
    keys = []
    for index, entry in enumerate(parsed.keys):
        where = f"{source}: keys[{index}] (kid {entry.kid!r})"
        if entry.alg != ALGORITHM:
            raise ConfigError(f"{where}: alg must be {ALGORITHM}, not {entry.alg!r}")
        try:
            private_key = load_pem_private_key(entry.privateKey.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: privateKey is not an unencrypted PKCS8 PEM private key") from exc
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or private_key.curve.name != "secp256r1":
            raise ConfigError(f"{where}: privateKey must be an EC P-256 key for {ALGORITHM}")
        keys.append(SigningKey(kid=entry.kid, status=entry.status, private_key=private_key))
    kids = [key.kid for key in keys]
    repeated = sorted({kid for kid in kids if kids.count(kid) > 1})
    if repeated:
        raise ConfigError(f"{source}: kid used by more than one key: {repeated}")
    active = [key.kid for key in keys if key.status is KeyStatus.ACTIVE]
    if len(active) != 1:
        raise ConfigError(
            f"{source}: exactly one key must have status 'active', found {len(active)}: {active}"
        )
    return KeySet(tuple(keys))


class TokenRejected(Exception):
    """401: no usable token (missing, malformed, bad signature, expired, unknown or retired key).
    403: a genuine token that does not grant this (another concert, or the entry is no longer active)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _unauthorized(reason: str) -> TokenRejected:
    return TokenRejected(HTTPStatus.UNAUTHORIZED, reason)


class _Claims(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True)

    iss: str
    aud: Identifier
    sub: Identifier
    jti: str = Field(min_length=1, max_length=200)
    position: int = Field(ge=1)
    iat: int
    nbf: int
    exp: int


@dataclass(frozen=True)
class TokenClaims:
    issuer: str
    concert_id: str
    user_id: str
    entry_id: str
    position: int
    issued_at: datetime
    not_before: datetime
    expires_at: datetime
    kid: str


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Tokens:
    def __init__(self, keys: KeySet) -> None:
        self._keys = keys

    @property
    def key_set(self) -> KeySet:
        return self._keys

    def mint(
        self,
        issuer: str,
        concert_id: str,
        user_id: str,
        entry_id: str,
        position: int,
        expires_at: datetime,
        now: datetime,
    ) -> str:
        if expires_at <= now:
            raise ValueError("a token must expire after it is minted")
        key = self._keys.active
        issued = _epoch(now)
        claims = {
            "iss": issuer,
            "aud": concert_id,
            "sub": user_id,
            "jti": entry_id,
            "position": position,
            "iat": issued,
            "nbf": issued,
            "exp": _epoch(expires_at),
        }
        return jwt.encode(
            claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"}
        )

    def verify(self, token: str | None, issuer: str, concert_id: str, now: datetime) -> TokenClaims:
        """The token's claims if it grants access to `concert_id` at `now`; TokenRejected otherwise.

        Authentication first (401: signature, issuer, claims, times), then authorization (403: aud).
        """
        claims = self.authenticate(token, issuer, now)
        if claims.concert_id != concert_id:
            raise TokenRejected(HTTPStatus.FORBIDDEN, "token is for another concert")
        return claims

    def authenticate(self, token: str | None, issuer: str, now: datetime) -> TokenClaims:
        """Everything `verify` checks except the concert (for routes that learn it only afterwards)."""
        if not token:
            raise _unauthorized("missing bearer token")
        key = self._signing_key(token)
        claims = self._signed_claims(token, key, issuer)
        current = now.timestamp()
        if claims.exp <= current:
            raise _unauthorized("token expired")
        if claims.nbf > current + NOT_BEFORE_LEEWAY_SECONDS:
            raise _unauthorized("token not yet valid")
        return TokenClaims(
            issuer=claims.iss,
            concert_id=claims.aud,
            user_id=claims.sub,
            entry_id=claims.jti,
            position=claims.position,
            issued_at=_time(claims.iat),
            not_before=_time(claims.nbf),
            expires_at=_time(claims.exp),
            kid=key.kid,
        )

    def _signing_key(self, token: str) -> SigningKey:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise _unauthorized("malformed token") from exc
        kid = header.get("kid")
        # The algorithm is ours to choose, never the token's: anything but ES256 is refused.
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise _unauthorized(f"token must be {ALGORITHM} with a kid")
        key = self._keys.get(kid)
        if key is None:
            raise _unauthorized(f"token signed by unknown key {kid!r}")
        if key.status is KeyStatus.RETIRED:
            raise _unauthorized(f"token signed by retired key {kid!r}")
        return key

    @staticmethod
    def _signed_claims(token: str, key: SigningKey, issuer: str) -> _Claims:
        try:
            # Times are checked by the caller against its `now` (PyJWT would use its own clock), and aud
            # too (a 403, not a 401).
            raw = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                issuer=issuer,
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise _unauthorized("bad token signature") from exc
        except jwt.InvalidIssuerError as exc:
            raise _unauthorized("token from another issuer") from exc
        except jwt.InvalidTokenError as exc:
            raise _unauthorized(f"malformed token: {exc}") from exc
        try:
            return _Claims.model_validate(raw)
        except ValidationError as exc:
            raise _unauthorized(describe_validation_error(exc, prefix="malformed token claims: ")) from exc

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JSON Web Key Set verifiers fetch: public keys of the active and verify keys, active first."""
        published = sorted(
            (key for key in self._keys.keys if key.status is not KeyStatus.RETIRED),
            key=lambda key: key.status is not KeyStatus.ACTIVE,
        )
        return {"keys": [_public_jwk(key) for key in published]}


def _public_jwk(key: SigningKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key))
    return {**jwk, "kid": key.kid, "alg": ALGORITHM, "use": "sig"}


def key_document(keys: Iterable[tuple[str, KeyStatus, ec.EllipticCurvePrivateKey]]) -> dict[str, Any]:
    """The secret/file JSON for keys (what operators and the local runtime write)."""
    return {
        "keys": [
            {
                "kid": kid,
                "alg": ALGORITHM,
                "privateKey": private_key.private_bytes(
                    Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
                ).decode(),
                "status": status.value,
            }
            for kid, status, private_key in keys
        ]
    }
