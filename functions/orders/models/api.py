"""Request and response bodies of the orders HTTP API."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from common.types import Identifier


class OrderStatus(StrEnum):
    CREATED = "CREATED"
    RESERVED = "RESERVED"  # stock reserved, awaiting payment
    PAID = "PAID"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"  # paid, then points, coupon and stock given back


TERMINAL = {OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.REFUNDED}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CreateProductRequest(Strict):
    productId: Identifier
    name: str = Field(min_length=1, max_length=200)
    price: int = Field(ge=0, le=10_000_000)
    stock: int = Field(ge=0, le=10_000_000)


class TopUpRequest(Strict):
    amount: int = Field(gt=0, le=10_000_000)


class OrderLine(Strict):
    productId: Identifier
    quantity: int = Field(gt=0, le=1000)


class CreateOrderRequest(Strict):
    userId: Identifier
    items: list[OrderLine] = Field(min_length=1, max_length=20)
    couponId: Identifier | None = None


class ProductPath(Strict):
    productId: Identifier


class UserPath(Strict):
    userId: Identifier


class OrderPath(Strict):
    orderId: Identifier


class Product(BaseModel):
    productId: str
    name: str
    price: int
    stock: int


class Points(BaseModel):
    userId: str
    balance: int


class Order(BaseModel):
    orderId: str
    userId: str
    status: OrderStatus
    reason: str | None = None
    items: list[OrderLine]
    total: int
    couponId: str | None = None
    createdAt: str
    updatedAt: str


class Notification(BaseModel):
    notificationId: str
    userId: str
    orderId: str
    message: str
    createdAt: str


class Notifications(BaseModel):
    items: list[Notification]
