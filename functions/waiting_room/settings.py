"""The waiting-room functions' settings (set by template.yaml on AWS and by the local runtime)."""

from __future__ import annotations

from pydantic import Field

from common.settings import FunctionSettings


class QueueApiSettings(FunctionSettings):
    table_name: str = Field(alias="CONCERTS_TABLE_NAME")
    entry_topic: str = Field(alias="QUEUE_ENTRY_TOPIC")
    token_keys: str = Field(alias="TOKEN_KEYS")
    token_issuer: str = Field(alias="TOKEN_ISSUER")


class EntryConsumerSettings(FunctionSettings):
    table_name: str = Field(alias="CONCERTS_TABLE_NAME")
    dlt_topic: str = Field(alias="QUEUE_DLT_TOPIC")


class AdmissionSettings(FunctionSettings):
    table_name: str = Field(alias="CONCERTS_TABLE_NAME")
    # How long one scheduled invocation keeps admitting (it fires once a minute).
    run_seconds: float = Field(alias="ADMISSION_RUN_SECONDS", default=59.0, gt=0, le=890)
