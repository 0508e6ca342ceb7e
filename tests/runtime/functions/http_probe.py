"""An HTTP handler for the HTTP API tests, steered by request headers (names checked case-blind, so it
works with payload 1.0's original-case headers too):

- no x-probe-action: answer 200 with the event it got as the JSON body
- x-probe-action: respond -> return the request body (JSON) as the function's response, verbatim
- x-probe-action: raise -> raise ValueError
- x-probe-action: sleep, x-probe-seconds: N -> sleep N seconds, then answer {"slept": N}
"""

import json
import os
import time


def handler(event, context):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    action = headers.get("x-probe-action", "echo")
    if action == "respond":
        return json.loads(event["body"])
    if action == "raise":
        raise ValueError("the probe was asked to fail")
    if action == "sleep":
        seconds = float(headers["x-probe-seconds"])
        time.sleep(seconds)
        return {"statusCode": 200, "body": json.dumps({"slept": seconds, "pid": os.getpid()})}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
