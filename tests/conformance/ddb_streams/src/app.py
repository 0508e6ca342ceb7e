"""Writes each event it receives, with the STREAM_ARN it was given, to RECORD_DIR."""

import json
import os
import uuid


def lambda_handler(event, context):
    path = os.path.join(os.environ["RECORD_DIR"], f"{uuid.uuid4().hex}.json")
    with open(path, "w") as out:
        json.dump({"event": event, "stream_arn": os.environ["STREAM_ARN"]}, out)
    return {}
