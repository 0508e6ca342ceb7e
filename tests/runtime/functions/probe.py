"""Handlers the runtime's conformance tests run. They record what Lambda would hand them."""

import json
import os
import time
from pathlib import Path


def echo(event, context):
    return {
        "event": event,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("PROBE_", "AWS_LAMBDA_", "SHARED_"))},
        "leaked": os.environ.get("ONLY_IN_OTHER_FUNCTION"),
        "context": {
            "function_name": context.function_name,
            "request_id": context.aws_request_id,
            "memory": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "pid": os.getpid(),
    }


def fail(event, context):
    raise ValueError(f"failing on purpose: {event.get('why', 'no reason')}")


def sleep(event, context):
    time.sleep(float(event["seconds"]))
    return {"slept": event["seconds"]}


def crash(event, context):
    os._exit(3)


def not_json(event, context):
    return {"when": object()}


def record(event, context):
    """Append the event to $RECORD_FILE, then answer with $RECORD_RESPONSE (JSON) or None."""
    with Path(os.environ["RECORD_FILE"]).open("a") as out:
        out.write(json.dumps({"at": time.time(), "event": event}) + "\n")
    response = os.environ.get("RECORD_RESPONSE")
    return json.loads(response) if response else None


def exit_soon(event, context):
    """Answer, then let the execution environment die while idle (as a handler's stray thread could)."""
    import threading

    threading.Timer(0.2, os._exit, args=(4,)).start()
    return {"pid": os.getpid()}


def hang(event, context):
    """Say which process this is (in $HANG_PID_FILE), then run for a long time: a busy environment."""
    Path(os.environ["HANG_PID_FILE"]).write_text(str(os.getpid()))
    time.sleep(float(event.get("seconds", 120)))
    return {"slept": True}
