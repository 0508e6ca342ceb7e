"""Settings of the seat functions (set by template.yaml on AWS and by the local runtime)."""

from __future__ import annotations

from pydantic import Field

from common.settings import FunctionSettings


class SeatApiSettings(FunctionSettings):
    table_name: str = Field(alias="CONCERTS_TABLE_NAME")
    token_keys: str = Field(alias="TOKEN_KEYS")
    token_issuer: str = Field(alias="TOKEN_ISSUER")
    hold_seconds: int = Field(default=300, alias="HOLD_SECONDS", ge=1, le=86_400)
    max_seats_per_user: int = Field(default=4, alias="MAX_SEATS_PER_USER", ge=1, le=100)


class HoldPaymentSettings(SeatApiSettings):
    points_table: str = Field(alias="ORDERS_TABLE_NAME")  # the orders capability's points
    outbox_table: str = Field(alias="OUTBOX_TABLE_NAME")
    seat_price: int = Field(alias="SEAT_PRICE_POINTS", ge=0, le=10_000_000)


class HoldSweeperSettings(FunctionSettings):
    table_name: str = Field(alias="CONCERTS_TABLE_NAME")
