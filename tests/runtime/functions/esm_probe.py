"""A scriptable recording handler for the event source conformance tests.

Every invocation appends {"at", "pid", "event"} to $ESM_RECORD_FILE. Then, in order:
1. $ESM_CONTROL_FILE (optional JSON): {"script": [step, ...]}; invocation n (0-based, counted by the
   lines already in the record file) follows step n if there is one: {"raise": "message"},
   {"return": <payload>}, {"sleep": seconds}, {"crash": true}, {"fail_index": i} (answer a partial
   batch response naming the i-th record: Kafka partition/offset, DynamoDB SequenceNumber).
2. Instructions in the records: a Kafka value (JSON) or a DynamoDB NewImage with `poison` -> raise;
   with `sleep` (seconds) -> sleep first.
"""

import base64
import json
import os
import time
from pathlib import Path


def _record_values(event):
    """JSON objects carried by the records (Kafka values, DynamoDB NewImages)."""
    values = []
    for records in (event.get("records") or {}).values():
        for record in records:
            try:
                value = json.loads(base64.b64decode(record.get("value", "")))
            except ValueError:
                continue
            if isinstance(value, dict):
                values.append(value)
    for record in event.get("Records") or []:
        image = record.get("dynamodb", {}).get("NewImage") or {}
        values.append({k: next(iter(v.values())) for k, v in image.items()})
    return values


def _identifier(event, index):
    if "Records" in event:
        return event["Records"][index]["dynamodb"]["SequenceNumber"]
    (key, records), *_ = event["records"].items()
    return {"partition": key, "offset": records[index]["offset"]}


def handler(event, context):
    record_file = Path(os.environ["ESM_RECORD_FILE"])
    count = len(record_file.read_text().splitlines()) if record_file.exists() else 0
    with record_file.open("a") as out:
        out.write(json.dumps({"at": time.time(), "pid": os.getpid(), "event": event}) + "\n")
    control = os.environ.get("ESM_CONTROL_FILE")
    script = (
        json.loads(Path(control).read_text()).get("script", []) if control and Path(control).exists() else []
    )
    if count < len(script):
        step = script[count]
        if "sleep" in step:
            time.sleep(float(step["sleep"]))
        if step.get("crash"):
            os._exit(7)
        if "raise" in step:
            raise RuntimeError(step["raise"])
        if "return" in step:
            return step["return"]
        if "fail_index" in step:
            return {"batchItemFailures": [{"itemIdentifier": _identifier(event, step["fail_index"])}]}
    values = _record_values(event)
    for value in values:
        if "sleep" in value:
            time.sleep(float(value["sleep"]))
    if any("poison" in value for value in values):
        raise ValueError("poison record in the batch")
    return None
