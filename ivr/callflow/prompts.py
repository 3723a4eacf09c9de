"""Everything the service says, as data: the caller's prompts and the engineer's whisper.

Kept in one place so the wording can be reviewed, and measured: an L1 caller in an outage must
hear as little as possible before an engineer's phone rings (`bench/webhooks.py` counts it, and
tests/web/test_voice.py holds it to 10 s for a caller recognised by caller ID, 16 s with the SEN).
Placeholders are filled by `say`; digits are spaced so text-to-speech reads them one by one.
"""

from __future__ import annotations

import re

from ivr.callflow.caller_input import Miss
from ivr.engine.entitlement import Verdict

WORDS_PER_MINUTE = 150

GREETING = "Welcome to {service}."
HELLO_CUSTOMER = "Hello, {customer}."
ASK_SEN = "Enter your support entitlement number, then hash."
# The question stops at what a caller in an outage needs; the levels follow it after a pause
# (`twiml.ask`), for a caller who waits, and a key pressed meanwhile cuts them off.
ASK_SEVERITY = "For a critical outage, press 1."
SEVERITY_LEVELS = (
    "Critical means production down, data loss or corruption, or many users blocked: press 1. "
    "Major, 2; medium, 3; low or a question, 4."
)

SEN_MISS = {
    Miss.EMPTY: "We did not get a number.",
    Miss.UNCLEAR: "Sorry, we did not understand that.",
    Miss.LENGTH: "That number has the wrong length.",
    Miss.UNKNOWN: "We could not find SEN {sen}.",
}
SEVERITY_MISS = {
    Miss.EMPTY: "We did not get a key.",
    Miss.KEY: "Please press one key, 1 to 4.",
}

# Final answers for callers we do not connect; each ends the call.
NOT_ENTITLED = {
    Verdict.UNKNOWN: "We could not find that support entitlement number. Please check it at {portal}.",
    Verdict.EXPIRED: (
        "The maintenance for {customer} has expired, so we cannot connect this call. "
        "Please renew, or raise a request at {portal}."
    ),
    Verdict.TIER: (
        "The {tier} support plan of {customer} does not include phone support. "
        "Please raise a request at {portal}."
    ),
}
# The same refusals for a SEN that was typed or said: whoever typed a number may not be the
# customer's, so these never say the customer's name or plan.
NOT_ENTITLED_TYPED = {
    Verdict.UNKNOWN: NOT_ENTITLED[Verdict.UNKNOWN],
    Verdict.EXPIRED: (
        "The maintenance for this support entitlement number has expired, so we cannot connect this call. "
        "Please renew, or raise a request at {portal}."
    ),
    Verdict.TIER: (
        "The support plan of this support entitlement number does not include phone support. "
        "Please raise a request at {portal}."
    ),
}
# Too many unknown SENs from the calling number within the hour (`conversation.over_sen_limit`).
SEN_LIMIT = "We cannot take more support entitlement numbers from this phone now. Please raise a request at {portal}."
# The licensing service could not answer; level 1 calls are still put through.
UNVERIFIED_NOT_L1 = (
    "We cannot check support entitlement numbers right now, so only critical calls are put through. "
    "Please raise a request at {portal}."
)
NO_SEN = "We could not get your support entitlement number. Please raise a request at {portal}."
NO_SEVERITY = "We could not get the severity. Please raise a request at {portal}."
SEVERITY_NOT_BY_PHONE = (
    "Severity {severity} issues are handled at {portal}, not by phone. Please raise a request there."
)
SEVERITY_NOT_NOW = "At weekends, severity {severity} issues are handled at {portal}. Please raise a request there."
GOODBYE = "Thank you for calling. Goodbye."

# After a final answer, to a caller whose number can take a text (`ivr.outside.sms`).
SMS_OFFER = "Press 1 and we will text you the link."
SMS_SENT = "We are sending you a text message with the link."
# The texts, keyed by `sms.Deflection`; each fits one SMS (160 characters) with the sample service.
SMS_LINK = {
    "severity": "{service}: please raise your request at {portal} and we will pick it up there.",
    "unknown": (
        "{service}: we could not find your support entitlement number (SEN). "
        "Please check it and raise a request at {portal}"
    ),
    "expired": "{service}: maintenance for SEN {sen} has expired. {renew} Requests: {portal}",
    "tier": (
        "{service}: your support plan (SEN {sen}) does not include phone support. "
        "Please raise your request at {portal}"
    ),
    "unverified": "{service}: we could not check your SEN just now. Please raise your request at {portal}",
}
SMS_RENEW_CONTACT = "To renew, contact {renewals}."
SMS_RENEW_PORTAL = "To renew, see the portal."

CONNECTING = "Connecting you to our {team} team."
CONNECTING_FALLBACK = "Connecting you to our {team}."
NO_ANSWER = "Nobody at {team} could take the call."
NO_ANSWER_FALLBACK = "Our {team} could not take the call."
VOICEMAIL = (
    "Sorry, nobody could take your call right now. After the beep, please leave your name, "
    "number and the problem, then hang up."
)
VOICEMAIL_THANKS = "Thank you. An engineer will call you back as soon as possible. Goodbye."
RESCUE = "Connecting you to our support team."
RESCUE_FAILED = "Sorry, we cannot connect your call right now. Please call again. Goodbye."

# The engineer's whisper, before the call is put through.
WHISPER = "{service}, level {severity} call from {caller}, {sen}, on the {line} line. Press 1 to accept."
WHISPER_SEN = "SEN {sen}"
WHISPER_SEN_NOT_VERIFIED = "SEN {sen}, SEN not verified"
WHISPER_NO_SEN = "no SEN"
WHISPER_UNKNOWN_CALLER = "an unknown customer"
WHISPER_FAILED = "A support call. Press 1 to accept."
WHISPER_RESCUE = "{service} call on the {line} line, put through after a system error. Press 1 to accept."

# A call back from the console: the engineer's phone rings first, then the customer's.
CALLBACK_WHISPER = (
    "{service} call back for {customer}, {sen}, who called the {line} line. Press 1 to call them now."
)
CALLBACK_GREETING = "This is {service}, returning your call. Connecting you to an engineer."

# The live warm handoff. Only the engineer who has the call hears the menu (they press * in the call);
# the customer hears HOLD and music meanwhile.
HANDOFF_MENU_OFFICE = "Press 1 to bring in the next office, {team}."
HANDOFF_MENU_NO_OFFICE = "No other office is on duty."
HANDOFF_MENU_OWN = "Press 2 to bring in another number of your team."
HANDOFF_MENU_BACK = "Press 0 to go back to the customer."
HOLD = "Please hold, we are bringing in a colleague."
HANDOFF_RINGING = "Ringing {team}."
HANDOFF_RINGING_OWN = "Ringing your team."
HANDOFF_NOBODY = "Nobody at {team} could join. Back to the customer."
HANDOFF_JOINED = "Your colleague has joined. Hang up when you are ready."
HANDOFF_WHISPER = "Handoff of a level {severity} call from {caller}, {sen}, from the {team} team. Press 1 to join."
HANDOFF_REMINDER = "Your team goes off duty in 10 minutes. To hand this call over, press star."
CUSTOMER_GONE = "The customer has hung up."
CALL_GOES_ON = "The call goes on with your colleague."
ENGINEER_GONE = "Sorry, your engineer was disconnected."
ENGINEER_LEFT = "Your engineer has ended the call. Thank you for calling. Goodbye."


def say(template: str, **values: object) -> str:
    return template.format(**values)


def spoken_digits(digits: str) -> str:
    """'1234567' as '1 2 3 4 5 6 7', read one digit at a time."""
    return " ".join(digits)


def spoken_url(url: str) -> str:
    """'https://support.example.com/' as 'support.example.com', the way people say it."""
    return re.sub(r"^https?://", "", url).rstrip("/")


def whisper(service: str, severity: int, caller: str | None, sen: str, line: str, verified: bool) -> str:
    return say(
        WHISPER, service=service, severity=severity, caller=caller or WHISPER_UNKNOWN_CALLER,
        sen=_whisper_sen(sen, verified), line=line,
    )


def handoff_whisper(severity: int, caller: str | None, sen: str, team: str, verified: bool) -> str:
    """What an engineer rung for a handoff hears: which call, from which team, press 1 to join."""
    return say(
        HANDOFF_WHISPER, severity=severity, caller=caller or WHISPER_UNKNOWN_CALLER, sen=_whisper_sen(sen, verified),
        team=team,
    )


def _whisper_sen(sen: str, verified: bool) -> str:
    if not sen:
        return WHISPER_NO_SEN
    return say(WHISPER_SEN if verified else WHISPER_SEN_NOT_VERIFIED, sen=spoken_digits(sen))


def speaking_seconds(*texts: str, words_per_minute: int = WORDS_PER_MINUTE) -> float:
    """How long the texts take to say, counting words (a spaced digit is a word)."""
    words = sum(len(text.split()) for text in texts)
    return words * 60 / words_per_minute
