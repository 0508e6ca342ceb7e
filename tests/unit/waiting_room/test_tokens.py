"""Access tokens: minting, verification as a third party would do it (JWKS + PyJWT), rejection codes,
rotation, and loading the keys from TOKEN_KEYS (file and Secrets Manager)."""

from __future__ import annotations

import base64
import json
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import jwt
import pytest
import yaml
from aws_lambda_powertools.utilities import parameters

from common.config import Endpoints
from common.settings import ConfigError
from infra.runtime.app import resolve_template
from infra.runtime.signing_keys import ensure_key_file, local_signing_key_overrides
from infra.template.errors import TemplateError
from tests.conftest import TEMPLATE
from tests.unit.waiting_room.seat_support import (
    CONCERT,
    ISSUER,
    T0,
    aws,  # noqa: F401  (fixture)
    document,
    entry_of,
    mint,
    tokens_for,
    write_keys,
)
from waiting_room.logic.tokens import KeyStatus, TokenRejected, parse_key_set
from waiting_room.token_keys import TokenKeys

ACTIVE = ("k2", KeyStatus.ACTIVE)
PREVIOUS = ("k1", KeyStatus.VERIFY)
OLD = ("k0", KeyStatus.RETIRED)


def third_party_verify(token: str, jwks: dict, audience: str) -> dict:
    """What a downstream API does: pick the JWKS key by kid, verify with PyJWT (its own clock)."""
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(key for key in jwks["keys"] if key["kid"] == kid)
    return jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=["ES256"], audience=audience, issuer=ISSUER,
        options={"require": ["exp", "iat", "nbf", "sub", "jti"]},
    )  # fmt: skip


def test_minted_token_verifies_with_the_published_jwks_as_a_third_party_would():
    tokens = tokens_for(document(ACTIVE, PREVIOUS, OLD))
    now = datetime.now(UTC)  # PyJWT checks exp/nbf on the real clock
    token = tokens.mint(ISSUER, CONCERT, "user-1", entry_of("user-1"), 42, now + timedelta(minutes=10), now)

    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "k2", "typ": "JWT"}
    claims = third_party_verify(token, tokens.jwks(), CONCERT)
    assert claims["iss"] == ISSUER and claims["aud"] == CONCERT and claims["sub"] == "user-1"
    assert claims["jti"] == entry_of("user-1") and claims["position"] == 42
    assert claims["iat"] == claims["nbf"] == int(now.timestamp())
    assert claims["exp"] == int((now + timedelta(minutes=10)).timestamp())
    with pytest.raises(jwt.InvalidAudienceError):
        third_party_verify(token, tokens.jwks(), "another-concert")


def test_jwks_publishes_active_and_verify_keys_never_retired_and_no_private_parts():
    jwks = tokens_for(document(ACTIVE, PREVIOUS, OLD)).jwks()
    assert [key["kid"] for key in jwks["keys"]] == ["k2", "k1"]  # active first
    for key in jwks["keys"]:
        assert set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")


def test_verify_returns_the_claims():
    tokens = tokens_for(document(ACTIVE))
    claims = tokens.verify(mint(tokens, "user-9"), ISSUER, CONCERT, T0 + timedelta(minutes=9))
    assert (claims.user_id, claims.concert_id, claims.entry_id, claims.position, claims.kid) == (
        "user-9", CONCERT, entry_of("user-9"), 7, "k2",
    )  # fmt: skip
    assert claims.expires_at == T0 + timedelta(minutes=10)


def _tamper_payload(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _unsigned(token: str) -> str:
    """The same claims with `alg: none` and no signature (the classic JWT downgrade)."""
    _, payload, _ = token.split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"k2"}').rstrip(b"=").decode()
    return f"{header}.{payload}."


@pytest.mark.parametrize(
    ("make", "status", "reason"),
    [
        (lambda t, o: None, 401, "missing"),
        (lambda t, o: "", 401, "missing"),
        (lambda t, o: "not-a-jwt", 401, "malformed"),
        (lambda t, o: "a.b.c", 401, "malformed"),
        (lambda t, o: _tamper_payload(mint(t), sub="someone-else"), 401, "signature"),
        (lambda t, o: _tamper_payload(mint(t), aud="another"), 401, "signature"),
        (lambda t, o: mint(t)[:-4] + "AAAA", 401, "signature"),
        (lambda t, o: mint(o), 401, "signature"),  # same kid, another key: a forged key set
        (lambda t, o: mint(t, now=T0 - timedelta(minutes=11)), 401, "expired"),
        (lambda t, o: mint(t, now=T0 - timedelta(minutes=10)), 401, "expired"),  # exp == now
        (lambda t, o: mint(t, now=T0 + timedelta(minutes=1)), 401, "not yet valid"),
        (lambda t, o: mint(t, concert="another-concert"), 403, "another concert"),
        (
            lambda t, o: jwt.encode({"sub": "x"}, "s" * 32, algorithm="HS256", headers={"kid": "k2"}),
            401,
            "ES256",
        ),
        (lambda t, o: _unsigned(mint(t)), 401, "ES256"),
    ],
)
def test_rejections(make, status, reason):
    tokens = tokens_for(document(ACTIVE))
    impostor = tokens_for(document(ACTIVE))  # kid k2 too, different private key
    with pytest.raises(TokenRejected) as caught:
        tokens.verify(make(tokens, impostor), ISSUER, CONCERT, T0)
    assert caught.value.status == status
    assert reason in caught.value.reason


def test_wrong_issuer_and_missing_claims_are_401():
    tokens = tokens_for(document(ACTIVE))
    other_issuer = tokens.mint("https://evil", CONCERT, "u", entry_of("u"), 1, T0 + timedelta(minutes=5), T0)
    with pytest.raises(TokenRejected, match="issuer") as caught:
        tokens.verify(other_issuer, ISSUER, CONCERT, T0)
    assert caught.value.status == 401
    key = tokens.key_set.active
    no_position = jwt.encode(
        {"iss": ISSUER, "aud": CONCERT, "sub": "u", "jti": "e", "iat": 1, "nbf": 1, "exp": 2**40},
        key.private_key, algorithm="ES256", headers={"kid": key.kid},
    )  # fmt: skip
    with pytest.raises(TokenRejected, match="position") as caught:
        tokens.verify(no_position, ISSUER, CONCERT, T0)
    assert caught.value.status == 401


def test_rotation_active_then_verify_then_retired():
    doc = document(("k1", KeyStatus.ACTIVE))
    before = tokens_for(doc)
    old_token = mint(before)
    # Step 1: the next key is published as `verify` (verifiers learn it before it signs anything).
    doc["keys"].append(document(("k2", KeyStatus.VERIFY))["keys"][0])
    # Step 2: promote k2, demote k1 to `verify`: new tokens use k2, tokens k1 signed still verify.
    doc["keys"][0]["status"], doc["keys"][1]["status"] = "verify", "active"
    promoted = tokens_for(doc)
    assert jwt.get_unverified_header(mint(promoted))["kid"] == "k2"
    assert promoted.verify(old_token, ISSUER, CONCERT, T0).kid == "k1"
    # Step 3: retire k1: its tokens are refused and it leaves the JWKS.
    doc["keys"][0]["status"] = "retired"
    retired = tokens_for(doc)
    with pytest.raises(TokenRejected, match="retired") as caught:
        retired.verify(old_token, ISSUER, CONCERT, T0)
    assert caught.value.status == 401
    assert [key["kid"] for key in retired.jwks()["keys"]] == ["k2"]
    # Step 4: dropping k1 entirely: an unknown kid.
    del doc["keys"][0]
    with pytest.raises(TokenRejected, match="unknown key"):
        tokens_for(doc).verify(old_token, ISSUER, CONCERT, T0)


def test_mint_refuses_a_token_that_is_already_expired():
    with pytest.raises(ValueError, match="expire"):
        tokens_for(document(ACTIVE)).mint(ISSUER, CONCERT, "u", "e", 1, T0, T0)


# --- the key document ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["keys"].clear(), "keys"),
        (
            lambda d: d["keys"][0].update(status="verify"),
            "exactly one key must have status 'active', found 0",
        ),
        (lambda d: d["keys"].append(dict(d["keys"][0], kid="k9")), "found 2"),
        (lambda d: d["keys"].append(dict(d["keys"][0], status="verify")), "more than one key"),
        (lambda d: d["keys"][0].update(alg="RS256"), "alg must be ES256"),
        (lambda d: d["keys"][0].update(privateKey="-----BEGIN PRIVATE KEY-----\nAAAA\n"), "PKCS8 PEM"),
        (lambda d: d["keys"][0].update(status="revoked"), "keys.0.status"),
        (lambda d: d["keys"][0].pop("kid"), "keys.0.kid"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_bad_key_documents_are_config_errors_naming_token_keys(change, message):
    doc = document(ACTIVE)
    change(doc)
    with pytest.raises(ConfigError, match="TOKEN_KEYS") as caught:
        parse_key_set(doc)
    assert message in str(caught.value)
    assert "BEGIN" not in str(caught.value)  # never echoes key material


def test_an_rsa_key_is_refused_for_es256():
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    pem = rsa.generate_private_key(65537, 2048).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    doc = {"keys": [{"kid": "r", "alg": "ES256", "privateKey": pem.decode(), "status": "active"}]}
    with pytest.raises(ConfigError, match="P-256"):
        parse_key_set(doc)


@pytest.mark.parametrize(
    "source", ["", "   ", "keys.json", "file://relative/keys.json", "file:keys.json", "s3://bucket/keys",
               "arn:aws:ssm:us-east-1:000000000000:parameter/keys"],
)  # fmt: skip
def test_token_keys_source_must_be_a_secret_arn_or_an_absolute_file_url(source):
    with pytest.raises(ConfigError, match="TOKEN_KEYS"):
        TokenKeys(source)


def test_file_keys_are_loaded_and_reread_after_max_age(tmp_path: Path):
    path = tmp_path / "keys.json"
    source = write_keys(path, document(("a", KeyStatus.ACTIVE)))
    clock = [0.0]
    keys = TokenKeys(source, max_age=60, clock=lambda: clock[0])
    assert keys.current().key_set.active.kid == "a"
    write_keys(path, document(("b", KeyStatus.ACTIVE)))
    clock[0] = 59.0
    assert keys.current().key_set.active.kid == "a"  # cached
    clock[0] = 60.0
    assert keys.current().key_set.active.kid == "b"  # rotation picked up


def test_missing_key_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"TOKEN_KEYS: cannot read key file .*missing\.json"):
        TokenKeys(f"file://{tmp_path}/missing.json").current()


@pytest.mark.usefixtures("aws")
def test_secrets_manager_keys_are_read_through_powertools_with_max_age(monkeypatch: pytest.MonkeyPatch):
    parameters.clear_caches()
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(
        Name="surge-queue-token-keys", SecretString=json.dumps(document(("s1", KeyStatus.ACTIVE)))
    )["ARN"]
    calls: list[tuple[str, object]] = []
    real_get_secret = parameters.get_secret

    def get_secret(name: str, **kwargs: object) -> object:
        calls.append((name, kwargs.get("max_age")))
        return real_get_secret(name, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(parameters, "get_secret", get_secret)
    keys = TokenKeys(arn, max_age=30)
    assert keys.current().key_set.active.kid == "s1"
    assert calls == [(arn, 30)]

    client.put_secret_value(SecretId=arn, SecretString=json.dumps(document(("s2", KeyStatus.ACTIVE))))
    assert keys.current().key_set.active.kid == "s1"  # Powertools' cache, for max_age seconds
    parameters.clear_caches()  # ... which is what passing max_age looks like
    assert keys.current().key_set.active.kid == "s2"  # the rotated secret, parsed anew
    parameters.clear_caches()


# --- local keys (Metadata.Surge.LocalSigningKeys) ----------------------------------------------------


def _template(tmp_path: Path, signing_keys: object) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "Transform": "AWS::Serverless-2016-10-31",
                "Metadata": {"Surge": {"LocalSigningKeys": signing_keys}},
                "Parameters": {"Keys": {"Type": "String", "Default": ""}},
                "Resources": {},
            }
        )
    )
    return path


def test_local_up_generates_one_private_key_file_per_state_dir_and_points_the_parameter_at_it(tmp_path):
    state = tmp_path / "state"
    endpoints = Endpoints(kafka_bootstrap_servers="127.0.0.1:9092")
    template = resolve_template(TEMPLATE, endpoints, state_dir=state)

    key_file = state / "keys" / "QueueTokenKeys.json"
    assert template.parameters["QueueTokenKeys"] == f"file://{key_file}"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    for function in ("SeatApiFunction", "QueueApiFunction"):
        assert template.functions[function].environment["TOKEN_KEYS"] == f"file://{key_file}"
    tokens = TokenKeys(template.parameters["QueueTokenKeys"]).current()
    assert tokens.verify(mint(tokens, now=datetime.now(UTC)), ISSUER, CONCERT, datetime.now(UTC)).user_id

    again = resolve_template(TEMPLATE, endpoints, state_dir=state)  # a restart, `surge invoke`, ...
    assert (
        TokenKeys(again.parameters["QueueTokenKeys"]).current().key_set.active.kid
        == tokens.key_set.active.kid
    )
    other = resolve_template(TEMPLATE, endpoints, state_dir=tmp_path / "other")
    assert (
        TokenKeys(other.parameters["QueueTokenKeys"]).current().key_set.active.kid
        != tokens.key_set.active.kid
    )


def test_a_user_override_wins_and_no_key_is_generated(tmp_path):
    arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:surge-queue-token-keys"
    endpoints = Endpoints(kafka_bootstrap_servers="127.0.0.1:9092")
    template = resolve_template(TEMPLATE, endpoints, {"QueueTokenKeys": arn}, state_dir=tmp_path)
    assert template.functions["SeatApiFunction"].environment["TOKEN_KEYS"] == arn
    assert not (tmp_path / "keys").exists()


def test_racing_processes_end_up_with_one_key_file(tmp_path):
    path = tmp_path / "keys" / "K.json"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: ensure_key_file(path), range(16)))
    assert [p.name for p in path.parent.iterdir()] == ["K.json"]  # no temporary file left behind
    assert parse_key_set(path.read_text()).active.kid.startswith("local-")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"Parameter": "Keys"}, "must be a list (at Metadata.Surge.LocalSigningKeys)"),
        (["Keys"], "must be a mapping (at Metadata.Surge.LocalSigningKeys[0])"),
        ([{"Parameter": "Keys", "Algorithm": "ES256", "Size": 1}], "unknown keys ['Size'] (at Metadata.Surge.LocalSigningKeys[0])"),
        ([{"Parameter": "Nope", "Algorithm": "ES256"}], "(at Metadata.Surge.LocalSigningKeys[0].Parameter)"),
        ([{"Parameter": "Keys", "Algorithm": "RS256"}], "(at Metadata.Surge.LocalSigningKeys[0].Algorithm)"),
        ([{"Parameter": "Keys", "Algorithm": "ES256"}] * 2, "declared twice for ['Keys']"),
    ],
)  # fmt: skip
def test_bad_local_signing_key_metadata_is_a_template_error_naming_where(tmp_path, entries, message):
    path = _template(tmp_path, entries)
    with pytest.raises(TemplateError) as caught:
        local_signing_key_overrides(path, {}, tmp_path / "state")
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)
    assert not (tmp_path / "state" / "keys").exists()
