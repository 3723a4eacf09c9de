"""Everything the service says, as data.

Text messages for callers we did not connect (`ivr.sms`), keyed by `sms.Deflection` values. Each
fits one SMS segment (160 characters) with the sample service name and portal.
"""

from __future__ import annotations

SMS_OFFER = "Press 1 and we will text you the link."
SMS_SENT = "We are sending you a text message with the link."

SMS_LINK = {
    "severity": "{service}: please raise your request at {portal} and we will pick it up there.",
    "unknown": "{service}: we could not find your support entitlement number (SEN). Please check it and raise a request at {portal}",
    "expired": "{service}: maintenance for {name} ({sen}) has expired. {renew} Requests: {portal}",
    "tier": "{service}: the {tier} plan of {name} is served at {portal}. Please raise your request there.",
    "unverified": "{service}: we could not check your SEN just now. Please raise your request at {portal}",
}
SMS_RENEW_CONTACT = "To renew, contact {renewals}."
SMS_RENEW_PORTAL = "To renew, see the portal."
