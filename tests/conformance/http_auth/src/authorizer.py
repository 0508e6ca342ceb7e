"""A Lambda REQUEST authorizer with simple responses (payload 2.0)."""


def handler(event, context):
    (token,) = event["identitySource"]
    if token == "raise":
        raise RuntimeError("authorizer failure")
    return {
        "isAuthorized": token == "partner-secret",
        "context": {"partner": "acme", "route": event["routeArn"]},
    }
