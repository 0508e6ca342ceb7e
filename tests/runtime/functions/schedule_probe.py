"""A scheduled handler that appends {"start", "end", "event"} to the JSONL file $SCHEDULE_RECORD_FILE,
sleeping $SCHEDULE_SLEEP_S seconds (default 0) in between, so tests can see overlaps."""

import json
import os
import time
from pathlib import Path


def handler(event, context):
    start = time.time()
    time.sleep(float(os.environ.get("SCHEDULE_SLEEP_S") or 0))
    with Path(os.environ["SCHEDULE_RECORD_FILE"]).open("a") as out:
        out.write(json.dumps({"start": start, "end": time.time(), "event": event}) + "\n")
