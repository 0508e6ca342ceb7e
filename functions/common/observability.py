"""Powertools singletons shared by every handler in the process."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "surge")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "surge"), service=SERVICE)
# Active on Lambda (the template sets Tracing: Active); the local runtime sets POWERTOOLS_TRACE_DISABLED.
tracer = Tracer(service=SERVICE)
