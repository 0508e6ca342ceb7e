"""Paying a live hold with points: the seat is sold, a reservation is CONFIRMED and
`reservation.confirmed` goes out through the outbox, in one transaction (the DAL's). No boto3 here.

Answers: 200 with the reservation (also for a retry of a payment that went through: the holder is
charged once), 404 unknown hold, 403 not the holder or a token for another concert, 410 the hold
expired, 409 released, 402 the points do not cover the price.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from http import HTTPStatus
from typing import Protocol

from common.outbox.envelope import OutboxEvent
from common.types import utc_now
from waiting_room.logic.holds import MAX_ATTEMPTS, HoldNotFound, NotHolder, SeatError, SeatsBusy, to_ms
from waiting_room.logic.tokens import TokenRejected, Tokens
from waiting_room.models.seats import Hold, HoldCancelled, HoldConflict, HoldStatus

RESERVATION = "reservation"


class HoldExpired(SeatError):
    status = HTTPStatus.GONE


class HoldNotPayable(SeatError):
    status = HTTPStatus.CONFLICT


class PointsTooLow(SeatError):
    status = HTTPStatus.PAYMENT_REQUIRED


class HoldReader(Protocol):
    def get_hold(self, hold_id: str) -> Hold | None: ...


class PaymentStore(Protocol):
    def confirm(self, hold: Hold, price: int, event: OutboxEvent, now: datetime, now_ms: int) -> None:
        """Raise HoldCancelled naming the failed conditions."""
        ...

    def reservation_price(self, hold_id: str) -> int | None: ...


@dataclass(frozen=True)
class Reservation:
    hold: Hold
    price: int


def reservation_event(hold: Hold, price: int, now: datetime, correlation_id: str | None) -> OutboxEvent:
    payload = {
        "reservationId": hold.hold_id,
        "holdId": hold.hold_id,
        "concertId": hold.concert_id,
        "seatId": hold.seat_id,
        "userId": hold.user_id,
        "price": price,
    }
    return OutboxEvent.new(
        "reservation.confirmed", RESERVATION, hold.hold_id, payload, now=now, correlation_id=correlation_id
    )


class HoldPaymentService:
    def __init__(
        self,
        holds: HoldReader,
        payments: PaymentStore,
        tokens: Callable[[], Tokens],
        *,
        issuer: str,
        seat_price: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._holds = holds
        self._payments = payments
        self._tokens = tokens
        self._issuer = issuer
        self._price = seat_price
        self._clock = clock

    def pay(self, hold_id: str, token: str | None, correlation_id: str | None) -> Reservation:
        claims = self._tokens().authenticate(token, self._issuer, self._clock())
        for _ in range(MAX_ATTEMPTS):
            now = self._clock()  # each attempt judges expiry afresh: the hold may run out between them
            hold = self._holds.get_hold(hold_id)
            if hold is None:
                raise HoldNotFound(f"hold {hold_id!r} not found")
            if claims.concert_id != hold.concert_id:
                raise TokenRejected(HTTPStatus.FORBIDDEN, "token is for another concert")
            if claims.user_id != hold.user_id:
                raise NotHolder("only the holder can pay for a hold")
            if hold.status is HoldStatus.CONFIRMED:
                price = self._payments.reservation_price(hold_id)
                return Reservation(hold, price if price is not None else self._price)
            if hold.status is HoldStatus.RELEASED:
                raise HoldNotPayable(f"hold {hold_id!r} was released", holdStatus=hold.status.value)
            if hold.status is HoldStatus.EXPIRED or not hold.is_live(to_ms(now)):
                raise HoldExpired(f"hold {hold_id!r} expired", holdStatus=HoldStatus.EXPIRED.value)
            try:
                self._payments.confirm(
                    hold,
                    self._price,
                    reservation_event(hold, self._price, now, correlation_id),
                    now,
                    to_ms(now),
                )
                return Reservation(replace(hold, status=HoldStatus.CONFIRMED), self._price)
            except HoldCancelled as cancelled:
                if HoldConflict.POINTS in cancelled.causes and len(cancelled.causes) == 1:
                    raise PointsTooLow(
                        f"user {hold.user_id!r} has fewer than {self._price} points",
                        reason="INSUFFICIENT_POINTS",
                    ) from None
                # The hold changed under us (released, expired, paid by a parallel request) or a
                # conflict: read it again and answer from what it is now.
        raise SeatsBusy("could not pay for the hold, retry")
