"""What customers are told about the support numbers: each published number and its region, which
severities are put through by phone and when, and what to have ready. Nothing internal: no team,
engineer, fallback, alert or customer detail is in it, by construction (only `[service]`,
`[[lines]]` and `[severity]` are read).
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.engine.phonebook import SEVERITIES, Phonebook, Policy

# When each policy puts a call through, as a customer reads it.
_WHEN = {Policy.ALWAYS: "around the clock", Policy.BUSINESS_WEEK: "in the business week, not at weekends"}


@dataclass(frozen=True)
class PublishedNumber:
    number: str  # E.164
    region: str | None
    label: str


@dataclass(frozen=True)
class ByPhone:
    severity: int
    when: str


@dataclass(frozen=True)
class Published:
    service: str
    portal: str
    numbers: tuple[PublishedNumber, ...]
    by_phone: tuple[ByPhone, ...]
    have_ready: tuple[str, ...]


def published(phonebook: Phonebook) -> Published:
    service = phonebook.service
    by_phone = tuple(
        ByPhone(level, _WHEN[phonebook.policy(level)]) for level in SEVERITIES
        if phonebook.policy(level) is not Policy.NEVER
    )
    return Published(
        service=service.name,
        portal=service.portal,
        numbers=tuple(PublishedNumber(line.number, line.region, line.label) for line in phonebook.lines),
        by_phone=by_phone,
        have_ready=(
            "Your support entitlement number (SEN): you are asked for it first.",
            "The severity: 1 means production is down (a critical outage: data loss or corruption, "
            "or many users blocked).",
            f"For anything else, raise a request at {service.portal}.",
        ),
    )


def published_json(found: Published) -> dict[str, object]:
    """The public `/numbers.json`."""
    return {
        "service": found.service,
        "portal": found.portal,
        "numbers": [{"number": n.number, "region": n.region, "label": n.label} for n in found.numbers],
        "by_phone": [{"severity": b.severity, "when": b.when} for b in found.by_phone],
        "have_ready": list(found.have_ready),
    }
