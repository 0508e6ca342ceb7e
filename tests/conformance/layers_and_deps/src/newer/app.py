"""Reports the interpreter it runs under, and what it can import."""

import importlib.util
import json
import os
import sys

import shared_util  # type: ignore[import-not-found]  # from the layer


def handler(event, context):
    import boto3  # the SDK the Lambda runtime ships

    body = {
        "shared": shared_util.GREETING,
        "boto3": boto3.__name__,
        "execution_env": os.environ.get("AWS_EXECUTION_ENV"),
        "fake_interpreter": os.environ.get("SURGE_TEST_FAKE_INTERPRETER"),
        "executable": sys.executable,
        "sees_surge_packages": importlib.util.find_spec("pydantic") is not None,
    }
    return {"statusCode": 200, "body": json.dumps(body)}
