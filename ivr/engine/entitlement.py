"""Who may call: the entitlement verdict for a customer at an instant, and the `Source` protocol.

The verdict is a pure function of the customer record and the instant. Where the record comes
from is a `Source`: the phonebook's [[customers]] (`PhonebookSource`, here), or a CSV file or a
licensing service (`ivr.outside.licensing`). A source that cannot answer raises
`SourceUnavailable`, which is not the same as "no such SEN": the call flow fails open for level 1
calls (`Verdict.UNVERIFIED`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from ivr.engine.phonebook import PHONE_TIERS, Customer, Phonebook, is_e164


class Verdict(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    TIER = "tier"
    # The source could not answer (time-out, error, bad data): neither allowed nor refused.
    UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Entitlement:
    verdict: Verdict
    customer: Customer | None

    @property
    def may_call(self) -> bool:
        return self.verdict is Verdict.OK


def entitlement(customer: Customer | None, at: datetime) -> Entitlement:
    if customer is None:
        return Entitlement(Verdict.UNKNOWN, None)
    if not customer.maintained_at(at):
        return Entitlement(Verdict.EXPIRED, customer)
    if customer.tier not in PHONE_TIERS:
        return Entitlement(Verdict.TIER, customer)
    return Entitlement(Verdict.OK, customer)


class Failure(StrEnum):
    """Why a source could not answer; the label of the failure counter."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    STATUS = "status"
    MALFORMED = "malformed"
    NO_DATA = "no_data"


class SourceUnavailable(Exception):
    def __init__(self, reason: Failure, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class Source(Protocol):
    """Customer records by SEN and by admin phone number; raises SourceUnavailable when it cannot tell.
    `state()` says where the records come from and how lookups went, for /healthz."""

    def by_sen(self, sen: str) -> Customer | None: ...

    def by_admin(self, number: str) -> tuple[Customer, ...]: ...

    def state(self) -> dict[str, object]: ...


def check(source: Source, sen: str, at: datetime) -> Entitlement:
    """The verdict for the SEN a caller typed, UNVERIFIED when the source cannot answer."""
    try:
        customer = source.by_sen(sen)
    except SourceUnavailable:
        return Entitlement(Verdict.UNVERIFIED, None)
    return entitlement(customer, at)


def recognise(source: Source, number: str) -> Customer | None:
    """The customer whose admin is calling from `number`, when exactly one is; None otherwise,
    including when the source cannot tell (the caller is then asked for the SEN)."""
    if not is_e164(number):
        # 'anonymous', 'unknown': no admin has that number, so no source is asked.
        return None
    try:
        customers = source.by_admin(number)
    except SourceUnavailable:
        return None
    return customers[0] if len(customers) == 1 else None


@dataclass(frozen=True)
class PhonebookSource:
    """Customers listed in the phonebook's [[customers]]."""

    phonebook: Phonebook

    def by_sen(self, sen: str) -> Customer | None:
        return self.phonebook.customer_by_sen(sen)

    def by_admin(self, number: str) -> tuple[Customer, ...]:
        return self.phonebook.customers_by_admin(number)

    def state(self) -> dict[str, object]:
        return {"source": "phonebook", "customers": len(self.phonebook.customers)}
