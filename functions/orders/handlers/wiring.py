"""The repository every orders function uses, built once per execution environment."""

from __future__ import annotations

from common.dynamodb import dynamodb_client
from orders.dal.orders_repo import OrdersRepository
from orders.settings import OrdersSettings

_repository: OrdersRepository | None = None


def get_repository() -> OrdersRepository:
    global _repository
    if _repository is None:
        config = OrdersSettings.from_env()
        _repository = OrdersRepository(
            dynamodb_client(), config.table_name, config.outbox_table, config.coupons_table
        )
    return _repository


def set_repository(repository: OrdersRepository | None) -> None:
    """Tests inject a repository on moto."""
    global _repository
    _repository = repository
