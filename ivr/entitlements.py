"""Who may call: the entitlement check for a SEN at an instant.

The verdict is a pure function of the customer record and the instant; where the record comes
from (the phonebook, a CSV file, a licensing service) is a `Source`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from ivr.phonebook import PHONE_TIERS, Customer, Phonebook


class Verdict(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    TIER = "tier"


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


class Source(Protocol):
    def by_sen(self, sen: str) -> Customer | None: ...

    def by_admin(self, number: str) -> tuple[Customer, ...]: ...


@dataclass(frozen=True)
class PhonebookSource:
    """Customers listed in the phonebook's [[customers]]."""

    phonebook: Phonebook

    def by_sen(self, sen: str) -> Customer | None:
        return self.phonebook.customer_by_sen(sen)

    def by_admin(self, number: str) -> tuple[Customer, ...]:
        return self.phonebook.customers_by_admin(number)
