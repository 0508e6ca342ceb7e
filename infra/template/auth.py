"""API authorization of HttpApi/Api events -> RouteAuth (what the local HTTP API enforces).

Where SAM takes it from: an HttpApi event's `ApiId: !Ref Api` names an AWS::Serverless::HttpApi,
whose `Auth` (else Globals.HttpApi.Auth) holds `Authorizers` and `DefaultAuthorizer`; without ApiId
the event belongs to the implicit API, configured by Globals.HttpApi. The event's
`Auth.Authorizer` (a name, or NONE) overrides the default; `Auth.AuthorizationScopes` overrides the
authorizer's. Api (REST) events likewise with AWS::Serverless::Api and Globals.Api.

Enforced locally (see infra/runtime/authorizers.py): HttpApi JWT authorizers (`JwtConfiguration`)
and HttpApi Lambda authorizers with payload 2.0 and simple responses. Everything else (IAM
authorization, REST Cognito/Lambda authorizers, Lambda authorizers answering IAM policies, API keys,
resource policies) is `kind == "unenforced"`: `surge local up` refuses it unless `--no-auth`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from infra.template.errors import TemplateError
from infra.template.intrinsics import FUNCTION_TYPE, Resolver

AuthKind = Literal["jwt", "lambda", "unenforced"]
_API_TYPES = {"HttpApi": "AWS::Serverless::HttpApi", "Api": "AWS::Serverless::Api"}


@dataclass(frozen=True)
class RouteAuth:
    kind: AuthKind
    authorizer: str  # its name under Auth.Authorizers (or AWS_IAM, ...)
    reason: str = ""  # for "unenforced": what the local runtime cannot do
    issuer: str = ""
    audience: tuple[str, ...] = ()
    identity_source: tuple[str, ...] = ()  # "$request.header.Authorization", ...
    scopes: tuple[str, ...] = ()
    function_id: str = ""  # the Lambda authorizer's function


def route_auth(
    api_kind: str, event_props: dict[str, Any], event_where: str, resolver: Resolver, globals_: dict[str, Any]
) -> RouteAuth | None:
    """None: the route is open (no authorizer, or `Authorizer: NONE`)."""
    api_auth, api_where = _api_auth(api_kind, event_props, event_where, resolver, globals_)
    event_auth = event_props.get("Auth") or {}
    if not isinstance(event_auth, dict):
        raise TemplateError(f"Auth must be a mapping (at {event_where}.Auth)")
    unsupported_keys = sorted(set(event_auth) - {"Authorizer", "AuthorizationScopes"})
    if unsupported_keys:
        return RouteAuth("unenforced", "", f"event Auth {unsupported_keys} (at {event_where}.Auth)")
    for key in ("ResourcePolicy", "ApiKeyRequired", "UsagePlan", "EnableIamAuthorizer"):
        if api_auth.get(key):
            return RouteAuth("unenforced", key, f"Auth.{key} is not enforced locally (at {api_where}.{key})")
    name = event_auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))
    if name is None or name == "NONE":
        return None
    name = str(resolver.resolve(name, f"{event_where}.Auth.Authorizer"))
    if name == "AWS_IAM":
        return RouteAuth("unenforced", name, "IAM authorization (SigV4) is not checked locally")
    authorizers = api_auth.get("Authorizers") or {}
    config = authorizers.get(name) if isinstance(authorizers, dict) else None
    if not isinstance(config, dict):
        raise TemplateError(
            f"authorizer {name!r} is not under {api_where}.Authorizers (at {event_where}.Auth)"
        )
    where = f"{api_where}.Authorizers.{name}"
    scopes = event_auth.get("AuthorizationScopes", config.get("AuthorizationScopes")) or []
    scopes = tuple(str(s) for s in resolver.resolve(scopes, where))
    if api_kind == "Api":
        kind = "Cognito" if "UserPoolArn" in config else "Lambda"
        return RouteAuth("unenforced", name, f"REST API {kind} authorizer {name} is not enforced locally")
    if "JwtConfiguration" in config:
        return _jwt(name, config, where, resolver, scopes)
    if "FunctionArn" in config:
        return _lambda(name, config, where, resolver)
    return RouteAuth("unenforced", name, f"authorizer {name} is neither JWT nor Lambda (at {where})")


def _api_auth(
    api_kind: str, event_props: dict[str, Any], where: str, resolver: Resolver, globals_: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    global_auth = ((globals_.get(api_kind) or {}) if isinstance(globals_, dict) else {}).get("Auth") or {}
    api_id = event_props.get("RestApiId" if api_kind == "Api" else "ApiId")
    if api_id is None:
        return global_auth, f"Globals.{api_kind}.Auth"
    target = api_id.get("Ref") if isinstance(api_id, dict) else None
    resource = resolver.resources.get(target) if isinstance(target, str) else None
    if not isinstance(resource, dict) or resource.get("Type") != _API_TYPES[api_kind]:
        raise TemplateError(
            f"{'RestApiId' if api_kind == 'Api' else 'ApiId'} must be !Ref of an {_API_TYPES[api_kind]} "
            f"in the template (at {where})"
        )
    auth = (resource.get("Properties") or {}).get("Auth")
    if auth is None:
        return global_auth, f"Globals.{api_kind}.Auth"
    if not isinstance(auth, dict):
        raise TemplateError(f"Auth must be a mapping (at Resources.{target}.Properties.Auth)")
    return auth, f"Resources.{target}.Properties.Auth"


def _jwt(
    name: str, config: dict[str, Any], where: str, resolver: Resolver, scopes: tuple[str, ...]
) -> RouteAuth:
    jwt = resolver.resolve(config["JwtConfiguration"], f"{where}.JwtConfiguration")
    issuer = jwt.get("issuer") if isinstance(jwt, dict) else None
    audience = jwt.get("audience") if isinstance(jwt, dict) else None
    if not isinstance(issuer, str) or not isinstance(audience, list) or not audience:
        raise TemplateError(
            f"JwtConfiguration needs issuer and a list of audience (at {where}.JwtConfiguration)"
        )
    source = resolver.resolve(config.get("IdentitySource", "$request.header.Authorization"), where)
    return RouteAuth(
        "jwt",
        name,
        issuer=issuer.rstrip("/"),
        audience=tuple(str(a) for a in audience),
        identity_source=(str(source),),
        scopes=scopes,
    )


def _lambda(name: str, config: dict[str, Any], where: str, resolver: Resolver) -> RouteAuth:
    arn = config["FunctionArn"]
    target = arn.get("Fn::GetAtt") if isinstance(arn, dict) else None
    parts = target.split(".", 1) if isinstance(target, str) else target
    if not (isinstance(parts, list) and len(parts) == 2 and parts[1] == "Arn"):
        return RouteAuth(
            "unenforced", name, f"Lambda authorizer {name}: FunctionArn is not !GetAtt <Function>.Arn"
        )
    function_id = str(parts[0])
    resource = resolver.resources.get(function_id)
    if not isinstance(resource, dict) or resource.get("Type") != FUNCTION_TYPE:
        return RouteAuth(
            "unenforced", name, f"Lambda authorizer {name}: {function_id} is not a function here"
        )
    version = str(config.get("AuthorizerPayloadFormatVersion", ""))
    if version != "2.0" or config.get("EnableSimpleResponses") is not True:
        return RouteAuth(
            "unenforced",
            name,
            f"Lambda authorizer {name}: only payload 2.0 with EnableSimpleResponses is enforced locally",
        )
    identity = config.get("Identity") or {}
    sources = [f"$request.header.{h}" for h in identity.get("Headers") or []]
    sources += [f"$request.querystring.{q}" for q in identity.get("QueryStrings") or []]
    return RouteAuth("lambda", name, function_id=function_id, identity_source=tuple(sources))
