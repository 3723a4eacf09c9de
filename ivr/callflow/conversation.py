"""The call flow's decisions: at each step, what the caller hears next and where the call goes.

Plain functions of (phonebook, state, what the caller or Twilio sent, instant). Each returns a small
frozen record saying what to do next (`AskSen`, `AskSeverity`, `Deflect`, `Connect`, `Voicemail`,
`Rescue`, `Goodbye`, `Hangup`), with what the webhook reports (the verdict, the routing); the
webhooks report the step's events and turn the record into TwiML. Nothing here reads a request, a
clock or a service, so every rule of the conversation (the retries, the fail-open rule, which words
and which text a refused caller gets, who rings next) is tested with literal values
(tests/callflow/test_conversation.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ivr.callflow import prompts
from ivr.callflow.caller_input import Miss, Reading
from ivr.callflow.callstate import MAX_TRIES, CallState
from ivr.callflow.prompts import say
from ivr.engine.entitlement import Entitlement, Verdict, entitlement
from ivr.engine.outcomes import SEN_LIMIT, WEEKEND_SEVERITY
from ivr.engine.phonebook import MAX_DIAL, CallerIdTrust, Customer, Kind, Phonebook, Policy, Ring
from ivr.engine.routing import Candidate, CandidateKind, Decision, candidate, route
from ivr.outside.sms import Deflection

# --- what happens next ---------------------------------------------------------------------


@dataclass(frozen=True)
class AskSen:
    """Say `spoken` (ending with the question) and read a SEN, typed or said, into `state`."""

    spoken: tuple[str, ...]
    state: CallState


@dataclass(frozen=True)
class AskSeverity:
    """Say `spoken` (ending with the question) and read one severity key into `state`; after a
    pause, `after_pause` (what each level means) for a caller who has not pressed a key yet.

    `entitlement` is the verdict that let the caller this far, when this step decided it (the
    webhook reports it); None when the severity is asked again.
    """

    spoken: tuple[str, ...]
    state: CallState
    entitlement: Entitlement | None = None
    after_pause: tuple[str, ...] = (prompts.SEVERITY_LEVELS,)


@dataclass(frozen=True)
class Deflect:
    """The final answer: `text` after `spoken`, then goodbye.

    `reason` is what the call log records. With `link`, a caller who can take a text is offered
    that way forward, and the text step reads `state`. `entitlement` is the refusing verdict when a
    SEN was refused (the webhook reports it).
    """

    reason: str
    text: str
    spoken: tuple[str, ...] = ()
    link: Deflection | None = None
    state: CallState = field(default_factory=CallState)
    entitlement: Entitlement | None = None


@dataclass(frozen=True)
class Connect:
    """Say `spoken`, then ring `numbers` together for `timeout` seconds. `state` points at the
    candidate and number rung, and counts the attempt: the dial outcome comes back with it."""

    spoken: tuple[str, ...]
    numbers: tuple[str, ...]
    timeout: int
    state: CallState


@dataclass(frozen=True)
class Voicemail:
    """Nobody (else) to ring: say `spoken`, then record a message."""

    spoken: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rescue:
    """After a failure: ring these numbers of the last good phonebook, with no state to carry."""

    spoken: tuple[str, ...]
    numbers: tuple[str, ...]
    timeout: int


@dataclass(frozen=True)
class Goodbye:
    spoken: tuple[str, ...]


@dataclass(frozen=True)
class Hangup:
    """The call is over for us: an engineer took it, or the caller is gone."""


@dataclass(frozen=True)
class JoinRoom:
    """The engineer who pressed 1 waits in the call's conference room: the caller joins them there."""

    state: CallState


Next = AskSen | AskSeverity | Deflect | Connect | Voicemail | Rescue | Goodbye | Hangup | JoinRoom


@dataclass(frozen=True)
class SeverityStep:
    """The routing the severity step made, if it got that far (the webhook reports it), and what next."""

    routing: Decision | None
    then: AskSeverity | Deflect | Connect | Voicemail


# --- the caller's steps --------------------------------------------------------------------


def _portal(phonebook: Phonebook) -> str:
    return prompts.spoken_url(phonebook.service.portal)


# Twilio's `StirVerstat` for a caller ID the originating carrier fully attested (SHAKEN/STIR level
# A) and Twilio verified. Lower levels (`-B`, `-C`), failures (`TN-Validation-Failed-...`),
# `No-TN-Validation`, diverted or passthrough calls and calls without the parameter (most calls from
# outside North America) are not.
FULL_ATTESTATION = "TN-Validation-Passed-A"


def trusts_caller_id(phonebook: Phonebook, stir_verstat: str) -> bool:
    """Whether the caller ID may recognise an admin (who then skips the SEN), by the phonebook's
    `[service] trust_caller_id` and what Twilio says of the call's attestation."""
    trust = phonebook.service.trust_caller_id
    if trust is CallerIdTrust.ALWAYS:
        return True
    return trust is CallerIdTrust.ATTESTED and stir_verstat == FULL_ATTESTATION


def over_sen_limit(failed: int | None, limit: int) -> bool:
    """Whether the calling number has given `limit` unknown SENs within the hour. `failed` is None
    when the call log cannot tell: the line exists for outages, so its database being down never
    locks a caller out (each call still has its three tries)."""
    return failed is not None and failed >= limit


def sen_limit(phonebook: Phonebook) -> Deflect:
    """The short goodbye for a number that gave too many unknown SENs: the portal, no text offered."""
    return Deflect(SEN_LIMIT, say(prompts.SEN_LIMIT, portal=_portal(phonebook)))


def greet(phonebook: Phonebook, customer: Customer | None, at: datetime) -> AskSen | AskSeverity | Deflect:
    """The first words: a caller recognised by caller ID goes straight to the entitlement check;
    anyone else is asked for the SEN."""
    greeting = say(prompts.GREETING, service=phonebook.service.name)
    if customer is None:
        return AskSen((greeting, prompts.ASK_SEN), CallState())
    state = CallState(sen=customer.sen_digits)
    hello = say(prompts.HELLO_CUSTOMER, customer=customer.name)
    return after_sen(phonebook, entitlement(customer, at), state, (greeting, hello), recognised=True)


def sen_miss(reading: Reading, verdict: Entitlement | None) -> Miss | None:
    """Why the SEN is not accepted: the reading's miss, or a well-formed SEN nobody holds."""
    if reading.miss:
        return reading.miss
    if verdict is not None and verdict.verdict is Verdict.UNKNOWN:
        return Miss.UNKNOWN
    return None


def sen_entered(
    phonebook: Phonebook, state: CallState, reading: Reading, verdict: Entitlement | None, limited: bool = False
) -> AskSen | AskSeverity | Deflect:
    """The SEN step: `reading` is what the caller typed or said, `verdict` its check (None when
    nothing was read). A miss is asked again, saying what went wrong, up to the third try; then an
    unknown SEN is refused with the portal, and no SEN at all ends with the portal. An unknown SEN
    that brings the calling number to its limit (`limited`) ends the call at once."""
    attempt = state.tries + 1
    miss = sen_miss(reading, verdict)
    if miss is Miss.UNKNOWN and limited:
        return sen_limit(phonebook)
    if miss is None:
        assert verdict is not None  # no miss: the SEN was read, so it was checked
        return after_sen(phonebook, verdict, state.advance(sen=reading.value, tries=0), ())
    if attempt < MAX_TRIES:
        problem = say(prompts.SEN_MISS[miss], sen=prompts.spoken_digits(reading.value or ""))
        return AskSen((problem, prompts.ASK_SEN), state.advance(tries=attempt))
    if miss is Miss.UNKNOWN:
        assert verdict is not None  # UNKNOWN is the verdict's miss; read_sen never reports it
        return not_entitled(phonebook, state.advance(sen=reading.value), verdict, ())
    return Deflect("no-sen", say(prompts.NO_SEN, portal=_portal(phonebook)), link=Deflection.UNKNOWN, state=state)


def after_sen(
    phonebook: Phonebook, verdict: Entitlement, state: CallState, spoken: tuple[str, ...], recognised: bool = False
) -> AskSeverity | Deflect:
    """Ask the severity of an entitled caller, or of one whose SEN could not be checked (level 1
    calls fail open: they are put through, and the engineer hears that the SEN is not verified).
    `recognised`: the caller ID is an admin's of the customer (else the SEN was typed or said)."""
    if verdict.verdict is Verdict.UNVERIFIED:
        state = state.advance(verified=False)
    elif not verdict.may_call:
        return not_entitled(phonebook, state, verdict, spoken, recognised)
    return AskSeverity((*spoken, prompts.ASK_SEVERITY), state, verdict)


# The text a caller may ask for after each kind of refusal.
_LINKS = {Verdict.UNKNOWN: Deflection.UNKNOWN, Verdict.EXPIRED: Deflection.EXPIRED, Verdict.TIER: Deflection.TIER}


def not_entitled(
    phonebook: Phonebook, state: CallState, verdict: Entitlement, spoken: tuple[str, ...], recognised: bool = False
) -> Deflect:
    """The refusal for an unknown SEN, expired maintenance or a plan without phone support. The
    customer's name and plan are said only to a caller recognised as its admin: anyone can type a SEN."""
    customer = verdict.customer
    if recognised and customer is not None:
        text = say(prompts.NOT_ENTITLED[verdict.verdict], portal=_portal(phonebook), customer=customer.name,
                   tier=customer.tier)
    else:
        text = say(prompts.NOT_ENTITLED_TYPED[verdict.verdict], portal=_portal(phonebook))
    return Deflect(verdict.verdict.value, text, spoken, link=_LINKS[verdict.verdict], state=state, entitlement=verdict)


def severity_chosen(phonebook: Phonebook, state: CallState, reading: Reading, line: str, at: datetime) -> SeverityStep:
    """The severity step, for a call on `line` at `at`: a miss is asked again up to the third try,
    then ends with the portal; an unverified SEN is put through at level 1 only; otherwise the
    routing decides: ring its candidates in order, or point the caller to the portal."""
    if reading.miss:
        attempt = state.tries + 1
        if attempt < MAX_TRIES:
            spoken = (prompts.SEVERITY_MISS[reading.miss], prompts.ASK_SEVERITY)
            return SeverityStep(None, AskSeverity(spoken, state.advance(tries=attempt)))
        return SeverityStep(None, Deflect("no-severity", say(prompts.NO_SEVERITY, portal=_portal(phonebook))))
    assert reading.value is not None  # read_severity: a value or a miss
    level = int(reading.value)
    if not state.verified and level != 1:
        text = say(prompts.UNVERIFIED_NOT_L1, portal=_portal(phonebook))
        return SeverityStep(None, Deflect("unverified", text, link=Deflection.UNVERIFIED, state=state))
    decision = route(phonebook, line, at, level)
    if not decision.connect:
        business_week = phonebook.policy(level) is Policy.BUSINESS_WEEK
        template = prompts.SEVERITY_NOT_NOW if business_week else prompts.SEVERITY_NOT_BY_PHONE
        text = say(template, severity=level, portal=_portal(phonebook))
        reason = WEEKEND_SEVERITY if business_week else "severity"
        return SeverityStep(decision, Deflect(reason, text, link=Deflection.SEVERITY, state=state))
    plan = tuple(c.team for c in decision.candidates)
    return SeverityStep(decision, ring(phonebook, state.advance(severity=level, tries=0, plan=plan), ()))


# --- ringing -------------------------------------------------------------------------------


def numbers_at(found: Candidate | None, number: int) -> tuple[str, ...]:
    """What one <Dial> rings: all the numbers together, or the `number`th when they ring in order."""
    if found is None or number >= len(found.dial):
        return ()
    return found.dial if found.ring is Ring.TOGETHER else (found.dial[number],)


def ring(phonebook: Phonebook, state: CallState, spoken: tuple[str, ...]) -> Connect | Voicemail:
    """Ring the plan's candidate (and number) that `state` points at, or the next one still listed
    in the phonebook; with nobody left, take a voicemail. A candidate's first dial says who it is."""
    for index in range(state.candidate, len(state.plan)):
        found = candidate(phonebook, state.plan[index])
        number = state.number if index == state.candidate else 0
        numbers = numbers_at(found, number)
        if found is None or not numbers:
            continue
        here = state.advance(candidate=index, number=number, attempt=state.attempt + 1)
        if number == 0:
            template = prompts.CONNECTING_FALLBACK if found.kind is CandidateKind.FALLBACK else prompts.CONNECTING
            spoken = (*spoken, say(template, team=found.spoken_name))
        return Connect(spoken, numbers, found.ring_seconds, here)
    return Voicemail(spoken)


def bridged(dial_bridged: str, dial_call_status: str) -> bool:
    """Did an engineer accept? `DialBridged` says so; older requests only have the status."""
    if dial_bridged:
        return dial_bridged == "true"
    return dial_call_status == "completed"


def caller_gone(call_status: str, dial_call_status: str) -> bool:
    return call_status in {"completed", "canceled"} or dial_call_status == "canceled"


def dial_ended(
    phonebook: Phonebook, state: CallState, accepted: bool, gone: bool, in_room: bool = False
) -> Connect | Voicemail | Hangup | JoinRoom:
    """After a <Dial>: done when the caller left or an engineer took the call in a two-party bridge;
    to the conference room when the engineer who pressed 1 was moved there (`in_room`); otherwise the
    next number of a candidate ringing in order, then the next candidate (saying nobody answered), and
    after the last candidate a voicemail."""
    if gone:
        return Hangup()
    if in_room:
        return JoinRoom(state)
    if accepted:
        return Hangup()
    found = candidate(phonebook, state.plan[state.candidate])
    if found is not None and found.ring is Ring.IN_ORDER and state.number + 1 < len(found.dial):
        return ring(phonebook, state.advance(number=state.number + 1), ())
    spoken: tuple[str, ...] = ()
    if found:
        template = prompts.NO_ANSWER_FALLBACK if found.kind is CandidateKind.FALLBACK else prompts.NO_ANSWER
        spoken = (say(template, team=found.spoken_name),)
    if state.candidate + 1 >= len(state.plan):
        return Voicemail(spoken)
    return ring(phonebook, state.advance(candidate=state.candidate + 1, number=0), spoken)


def engineer_gone(phonebook: Phonebook, state: CallState, team: str) -> Connect | Voicemail:
    """The engineer who had the call hung up while a handoff to `team` rang (their hanging up stops
    that ringing): the caller, on hold, is told and rings `team` as a new plan, then the rest of the
    call's plan after it."""
    rest = tuple(name for name in state.plan[state.candidate + 1:] if name != team)
    return ring(phonebook, state.advance(plan=(team, *rest), candidate=0, number=0), (prompts.ENGINEER_GONE,))


# --- the engineer's leg --------------------------------------------------------------------


def looks_up_customer(state: CallState) -> bool:
    """Whether the whisper looks the SEN up again for the customer's name: not after a rescue, and
    never an unverified SEN (a lookup failing now only loses the name)."""
    return bool(state.severity and state.sen and state.verified)


def whisper_text(phonebook: Phonebook, state: CallState, line_number: str, customer: Customer | None) -> str:
    """What the engineer hears before pressing 1; a rescued call has no state to tell."""
    line = phonebook.line(line_number)
    label = line.label if line else line_number
    if not state.severity:
        return say(prompts.WHISPER_RESCUE, service=phonebook.service.name, line=label)
    return prompts.whisper(
        phonebook.service.name, state.severity, customer.name if customer else None, state.sen, label, state.verified,
    )


# --- never strand a caller -----------------------------------------------------------------


def rescue_numbers(phonebook: Phonebook) -> tuple[tuple[str, ...], int]:
    """The fallback's numbers, or with no fallback every select team's (as many as one <Dial> rings)."""
    if phonebook.fallback is not None:
        return phonebook.fallback.dial, phonebook.fallback.ring_seconds
    select = [t for t in phonebook.teams if t.kind is Kind.SELECT]
    numbers = tuple(n for t in select for n in t.dial)[:MAX_DIAL]
    return numbers, max((t.ring_seconds for t in select), default=0)


def rescue(phonebook: Phonebook, accepted: bool, gone: bool) -> Rescue | Goodbye | Hangup:
    """After an unexpected failure: ring a human from `phonebook` (the last good one), unless an
    engineer already took the call or the caller is gone; with nobody to ring, apologise."""
    if accepted or gone:
        return Hangup()
    numbers, seconds = rescue_numbers(phonebook)
    if not numbers:
        return Goodbye((prompts.RESCUE_FAILED,))
    return Rescue((prompts.RESCUE,), numbers, seconds)


def rescued(accepted: bool, gone: bool) -> Voicemail | Hangup:
    """After the rescue's <Dial>: done, or a voicemail (never another rescue, which could loop)."""
    return Hangup() if accepted or gone else Voicemail()
