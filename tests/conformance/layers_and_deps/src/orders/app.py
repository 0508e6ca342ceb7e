"""Reports what this execution environment imports from where."""

import importlib.util
import json
import os
import sys

import shared_util  # type: ignore[import-not-found]  # from the layer
import text_unidecode  # type: ignore[import-not-found]  # from requirements.txt
import vendored_pkg  # type: ignore[import-not-found]  # from the layer


def handler(event, context):
    import boto3  # the SDK the Lambda runtime ships

    body = {
        "shared": shared_util.GREETING,
        "vendored": vendored_pkg.NAME,
        "unidecode": text_unidecode.unidecode("naïve café"),
        "boto3": boto3.__name__,
        "execution_env": os.environ.get("AWS_EXECUTION_ENV"),
        "sees_surge_packages": importlib.util.find_spec("pydantic") is not None,
        "deps_path": [p for p in sys.path if "function-deps" in p],
    }
    return {"statusCode": 200, "body": json.dumps(body)}
