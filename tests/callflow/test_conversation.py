"""The call flow's decisions, step by step, as tables of literal phonebooks, states, inputs and instants.

Each row names the promise it checks; the webhooks' tests (tests/web/test_voice*.py) check the same
decisions end to end, as TwiML and events.
"""

from __future__ import annotations

import pytest
from conftest import phonebook_from, utc
from phonebooks import toml_table, toml_team

from ivr.callflow import prompts
from ivr.callflow.caller_input import Miss, Reading
from ivr.callflow.callstate import CallState
from ivr.callflow.conversation import (
    AskSen,
    AskSeverity,
    Connect,
    Deflect,
    Goodbye,
    Hangup,
    Rescue,
    SeverityStep,
    Voicemail,
    after_sen,
    bridged,
    caller_gone,
    dial_ended,
    greet,
    looks_up_customer,
    not_entitled,
    numbers_at,
    over_sen_limit,
    rescue,
    rescue_numbers,
    rescued,
    ring,
    sen_entered,
    sen_miss,
    severity_chosen,
    trusts_caller_id,
    whisper_text,
)
from ivr.engine.entitlement import Entitlement, Verdict
from ivr.engine.routing import candidate
from ivr.outside.sms import Deflection

US_LINE = "+14155550100"
NL_LINE = "+31205550100"
AU_LINE = "+61255501000"
# A Tuesday, 12:00 in San Francisco: its office is on duty.
TUESDAY = utc("2026-12-01T20:00Z")

GREETING = "Welcome to Priority Support."
PORTAL_NOT_FOUND = "We could not find that support entitlement number. Please check it at support.example.com."
NO_SEN = "We could not get your support entitlement number. Please raise a request at support.example.com."
NO_SEVERITY = "We could not get the severity. Please raise a request at support.example.com."
EXPIRED = (
    "The maintenance for Globex has expired, so we cannot connect this call. "
    "Please renew, or raise a request at support.example.com."
)
TIER = "The select support plan of Initech does not include phone support. Please raise a request at support.example.com."
# The same refusals to whoever typed the SEN: no name, no plan.
EXPIRED_TYPED = (
    "The maintenance for this support entitlement number has expired, so we cannot connect this call. "
    "Please renew, or raise a request at support.example.com."
)
TIER_TYPED = (
    "The support plan of this support entitlement number does not include phone support. "
    "Please raise a request at support.example.com."
)
SEN_LIMIT = (
    "We cannot take more support entitlement numbers from this phone now. Please raise a request at support.example.com."
)
UNVERIFIED_NOT_L1 = (
    "We cannot check support entitlement numbers right now, so only critical calls are put through. "
    "Please raise a request at support.example.com."
)


@pytest.fixture(scope="module")
def customers(sample):
    return {c.name: c for c in sample.customers}


def ok(customer):
    return Entitlement(Verdict.OK, customer)


UNVERIFIED = Entitlement(Verdict.UNVERIFIED, None)
UNKNOWN = Entitlement(Verdict.UNKNOWN, None)


# --- the greeting ------------------------------------------------------------------------------


def test_a_caller_nobody_recognises_is_greeted_and_asked_for_the_sen(sample):
    assert greet(sample, None, TUESDAY) == AskSen((GREETING, prompts.ASK_SEN), CallState())


def test_a_recognised_admin_is_greeted_by_name_and_asked_the_severity(sample, customers):
    acme = customers["Acme Corporation"]
    assert greet(sample, acme, TUESDAY) == AskSeverity(
        (GREETING, "Hello, Acme Corporation.", prompts.ASK_SEVERITY),
        CallState(sen="1234567"),
        ok(acme),
    )


@pytest.mark.parametrize(("name", "reason", "text", "link"), [
    ("Globex", "expired", EXPIRED, Deflection.EXPIRED),
    ("Initech", "tier", TIER, Deflection.TIER),
])
def test_a_recognised_admin_without_phone_support_hears_why_after_the_greeting(sample, customers, name, reason, text,
                                                                              link):
    customer = customers[name]
    assert greet(sample, customer, TUESDAY) == Deflect(
        reason, text, (GREETING, f"Hello, {name}."), link=link,
        state=CallState(sen=customer.sen_digits), entitlement=Entitlement(Verdict(reason), customer),
    )


# --- the SEN step ------------------------------------------------------------------------------


@pytest.mark.parametrize(("reading", "verdict", "miss"), [
    (Reading("1234567"), Entitlement(Verdict.OK, None), None),
    (Reading("1234567"), UNVERIFIED, None),
    (Reading("2345678"), Entitlement(Verdict.EXPIRED, None), None),
    (Reading("7654321"), UNKNOWN, Miss.UNKNOWN),
    (Reading(None, Miss.EMPTY), None, Miss.EMPTY),
    (Reading(None, Miss.LENGTH), None, Miss.LENGTH),
], ids=["ok", "unverified is no miss", "expired is no miss", "nobody holds it", "empty", "length"])
def test_a_sen_is_missed_when_unread_or_held_by_nobody(reading, verdict, miss):
    assert sen_miss(reading, verdict) == miss


@pytest.mark.parametrize(("tries", "reading", "problem"), [
    (0, Reading(None, Miss.EMPTY), "We did not get a number."),
    (1, Reading(None, Miss.UNCLEAR), "Sorry, we did not understand that."),
    (0, Reading(None, Miss.LENGTH), "That number has the wrong length."),
    (1, Reading("7654321"), "We could not find SEN 7 6 5 4 3 2 1."),
], ids=["1st miss, empty", "2nd miss, unclear", "1st miss, length", "2nd miss, unknown"])
def test_the_first_two_misses_ask_again_saying_what_went_wrong(sample, tries, reading, problem):
    verdict = UNKNOWN if reading.value else None
    decision = sen_entered(sample, CallState(tries=tries), reading, verdict)
    assert decision == AskSen((problem, prompts.ASK_SEN), CallState(tries=tries + 1))


def test_the_third_miss_without_a_sen_ends_with_the_portal_and_offers_the_link(sample):
    decision = sen_entered(sample, CallState(tries=2), Reading(None, Miss.EMPTY), None)
    assert decision == Deflect("no-sen", NO_SEN, link=Deflection.UNKNOWN, state=CallState(tries=2))


def test_the_third_unknown_sen_is_refused_as_unknown_with_the_sen_kept(sample):
    decision = sen_entered(sample, CallState(tries=2), Reading("7654321"), UNKNOWN)
    assert decision == Deflect(
        "unknown", PORTAL_NOT_FOUND, link=Deflection.UNKNOWN, state=CallState(sen="7654321", tries=2),
        entitlement=UNKNOWN,
    )


@pytest.mark.parametrize("tries", [0, 1, 2], ids=["1st try", "2nd try", "3rd try"])
def test_an_entitled_sen_asks_the_severity_and_resets_the_tries(sample, customers, tries):
    verdict = ok(customers["Acme Corporation"])
    decision = sen_entered(sample, CallState(tries=tries), Reading("1234567"), verdict)
    assert decision == AskSeverity((prompts.ASK_SEVERITY,), CallState(sen="1234567"), verdict)


def test_a_sen_that_could_not_be_checked_fails_open_as_not_verified(sample):
    decision = sen_entered(sample, CallState(tries=1), Reading("1234567"), UNVERIFIED)
    assert decision == AskSeverity((prompts.ASK_SEVERITY,), CallState(sen="1234567", verified=False), UNVERIFIED)


@pytest.mark.parametrize(("name", "reason", "text", "link"), [
    ("Globex", "expired", EXPIRED_TYPED, Deflection.EXPIRED),
    ("Initech", "tier", TIER_TYPED, Deflection.TIER),
])
def test_a_typed_sen_without_phone_support_is_refused_at_once_without_the_customers_name_or_plan(
    sample, customers, name, reason, text, link
):
    customer = customers[name]
    verdict = Entitlement(Verdict(reason), customer)
    decision = sen_entered(sample, CallState(), Reading(customer.sen_digits), verdict)
    assert decision == Deflect(reason, text, link=link, state=CallState(sen=customer.sen_digits), entitlement=verdict)
    assert name not in decision.text and customer.tier not in decision.text


@pytest.mark.parametrize("name", ["Globex", "Initech"])
def test_the_refusal_names_the_customer_only_to_a_caller_recognised_as_its_admin(sample, customers, name):
    customer = customers[name]
    verdict = Entitlement(Verdict.EXPIRED if name == "Globex" else Verdict.TIER, customer)
    assert name in not_entitled(sample, CallState(), verdict, (), recognised=True).text
    assert name not in not_entitled(sample, CallState(), verdict, ()).text


# --- the limit on unknown SENs from one number ----------------------------------------------------------


@pytest.mark.parametrize(("failed", "limit", "over"), [
    (9, 10, False), (10, 10, True), (11, 10, True), (0, 1, False), (1, 1, True),
    (None, 10, False),
], ids=["one short", "at the limit", "past it", "none yet", "a limit of one", "the call log cannot tell: fail open"])
def test_a_number_is_over_the_limit_once_it_gave_that_many_unknown_sens(failed, limit, over):
    assert over_sen_limit(failed, limit) is over


@pytest.mark.parametrize("tries", [0, 1, 2], ids=["1st try", "2nd try", "3rd try"])
def test_the_unknown_sen_that_reaches_the_limit_ends_the_call_at_once(sample, tries):
    decision = sen_entered(sample, CallState(tries=tries), Reading("7654321"), UNKNOWN, limited=True)
    assert decision == Deflect("sen-limit", SEN_LIMIT)


def test_a_right_sen_is_taken_whatever_the_count(sample, customers):
    verdict = ok(customers["Acme Corporation"])
    decision = sen_entered(sample, CallState(tries=2), Reading("1234567"), verdict, limited=True)
    assert isinstance(decision, AskSeverity)


# --- how far a caller ID is trusted -------------------------------------------------------------------


@pytest.mark.parametrize(("trust", "verstat", "trusted"), [
    ("attested", "TN-Validation-Passed-A", True),
    ("attested", "TN-Validation-Passed-B", False),
    ("attested", "TN-Validation-Passed-C", False),
    ("attested", "TN-Validation-Failed-A", False),
    ("attested", "TN-Validation-Failed", False),
    ("attested", "No-TN-Validation", False),
    ("attested", "TN-Validation-Passed-A-Diverted", False),
    ("attested", "", False),
    ("always", "", True),
    ("always", "TN-Validation-Failed-A", True),
    ("never", "TN-Validation-Passed-A", False),
    ("never", "", False),
])
def test_a_caller_id_is_trusted_as_far_as_the_phonebook_says(trust, verstat, trusted):
    book = phonebook_from(toml_table("service", trust_caller_id=trust)
                          + toml_team("select", "select", ["24/7"], ["+14155550110"]))
    assert trusts_caller_id(book, verstat) is trusted


def test_by_default_only_a_fully_attested_caller_id_is_trusted(sample):
    assert trusts_caller_id(sample, "TN-Validation-Passed-A")
    assert not trusts_caller_id(sample, "TN-Validation-Passed-B")
    assert not trusts_caller_id(sample, "")


def test_after_the_sen_the_spoken_words_come_before_the_severity_question(sample, customers):
    verdict = ok(customers["Acme Corporation"])
    assert after_sen(sample, verdict, CallState(sen="1234567"), ("Hello.",)) == AskSeverity(
        ("Hello.", prompts.ASK_SEVERITY), CallState(sen="1234567"), verdict,
    )


# --- the severity step -------------------------------------------------------------------------


@pytest.mark.parametrize(("tries", "miss", "problem"), [
    (0, Miss.EMPTY, "We did not get a key."),
    (1, Miss.KEY, "Please press one key, 1 to 4."),
], ids=["1st miss", "2nd miss"])
def test_a_missed_severity_is_asked_again(sample, tries, miss, problem):
    state = CallState(sen="1234567", tries=tries)
    step = severity_chosen(sample, state, Reading(None, miss), US_LINE, TUESDAY)
    assert step == SeverityStep(None, AskSeverity(
        (problem, prompts.ASK_SEVERITY), CallState(sen="1234567", tries=tries + 1),
    ))
    # A caller who waits hears what each level means again, after the question.
    assert step.then.after_pause == (prompts.SEVERITY_LEVELS,)


def test_the_third_missed_severity_ends_with_the_portal_and_no_link(sample):
    step = severity_chosen(sample, CallState(sen="1234567", tries=2), Reading(None, Miss.KEY), US_LINE, TUESDAY)
    assert step == SeverityStep(None, Deflect("no-severity", NO_SEVERITY))


@pytest.mark.parametrize("level", [2, 3, 4])
def test_an_unverified_sen_is_refused_above_level_1_before_any_routing(sample, level):
    state = CallState(sen="1234567", verified=False)
    step = severity_chosen(sample, state, Reading(str(level)), US_LINE, TUESDAY)
    assert step == SeverityStep(None, Deflect(
        "unverified", UNVERIFIED_NOT_L1, link=Deflection.UNVERIFIED, state=state,
    ))


def test_an_unverified_sen_at_level_1_is_put_through_and_stays_unverified(sample):
    state = CallState(sen="1234567", verified=False)
    step = severity_chosen(sample, state, Reading("1"), US_LINE, TUESDAY)
    assert step.routing is not None and step.routing.connect
    assert step.then == Connect(
        ("Connecting you to our San Francisco Priority Support team.",), ("+14155550101",), 15,
        CallState(sen="1234567", verified=False, severity=1, plan=("san_francisco", "select", "fallback"), attempt=1),
    )


# Level 1 routing at literal instants: the plan, and who rings first with which numbers.
@pytest.mark.parametrize(("line", "at", "plan", "first"), [
    (US_LINE, "2026-12-01T20:00Z", ("san_francisco", "select", "fallback"), ("+14155550101",)),
    # Saturday: only the select team and the fallback.
    (US_LINE, "2026-12-05T20:00Z", ("select", "fallback"), ("+14155550110", "+31205550110")),
    # The week between the European (25 Oct) and American (1 Nov) changes: San Francisco's 07:00 is
    # 14:00 UTC, so at 14:30 it rings first; a week later 07:00 is 15:00 UTC and it is not on yet.
    (US_LINE, "2026-10-26T14:30Z", ("san_francisco", "amsterdam", "select", "fallback"), ("+14155550101",)),
    (US_LINE, "2026-11-02T14:30Z", ("amsterdam", "select", "fallback"), ("+31205550101", "+31205550102")),
    # Amsterdam's 07:00 is 05:00 UTC in summer time and 06:00 UTC after 25 Oct.
    (NL_LINE, "2026-10-19T05:30Z", ("amsterdam", "sydney", "select", "fallback"), ("+31205550101", "+31205550102")),
    (NL_LINE, "2026-10-26T05:30Z", ("sydney", "select", "fallback"), ("+61255501001", "+61255501002")),
    # 24 Dec is a holiday in Sydney: the Australian line rings San Francisco instead.
    (AU_LINE, "2026-12-22T23:00Z", ("sydney", "san_francisco", "select", "fallback"),
     ("+61255501001", "+61255501002")),
    (AU_LINE, "2026-12-23T23:00Z", ("san_francisco", "select", "fallback"), ("+14155550101",)),
], ids=["weekday", "weekend", "dst week, us still summer", "dst week after", "nl summer time", "nl winter time",
        "sydney workday", "sydney holiday"])
def test_level_1_is_routed_and_rings_the_first_candidate(sample, line, at, plan, first):
    step = severity_chosen(sample, CallState(sen="1234567", tries=1), Reading("1"), line, utc(at))
    assert step.routing is not None and tuple(c.team for c in step.routing.candidates) == plan
    assert isinstance(step.then, Connect)
    assert step.then.numbers == first
    assert step.then.state == CallState(sen="1234567", severity=1, plan=plan, attempt=1)


BUSINESS_WEEK = (
    toml_table("severity", **{"1": "always", "2": "business-week", "3": "never"})
    + toml_team("desk", "priority", ["24/7"], ["+14155550120"])
)


@pytest.mark.parametrize(("level", "at", "reason", "text"), [
    (2, "2026-12-05T12:00Z", "weekend",
     "At weekends, severity 2 issues are handled at support.example.com. Please raise a request there."),
    (3, "2026-12-01T12:00Z", "severity",
     "Severity 3 issues are handled at support.example.com, not by phone. Please raise a request there."),
    (4, "2026-12-01T12:00Z", "severity",
     "Severity 4 issues are handled at support.example.com, not by phone. Please raise a request there."),
], ids=["business-week at the weekend", "never", "unlisted is never"])
def test_a_severity_not_taken_now_is_deflected_with_its_policys_words_and_the_link(level, at, reason, text):
    phonebook = phonebook_from(BUSINESS_WEEK)
    state = CallState(sen="1234567")
    step = severity_chosen(phonebook, state, Reading(str(level)), US_LINE, utc(at))
    assert step.routing is not None and not step.routing.connect
    assert step.then == Deflect(reason, text, link=Deflection.SEVERITY, state=state)


def test_a_business_week_severity_is_put_through_on_a_weekday():
    phonebook = phonebook_from(BUSINESS_WEEK)
    step = severity_chosen(phonebook, CallState(sen="1234567"), Reading("2"), US_LINE, utc("2026-12-01T12:00Z"))
    assert step.then == Connect(
        ("Connecting you to our Desk Priority Support team.",), ("+14155550120",), 20,
        CallState(sen="1234567", severity=2, plan=("desk",), attempt=1),
    )


def test_with_nobody_on_duty_and_no_fallback_level_1_goes_to_voicemail():
    phonebook = phonebook_from(toml_team("nights", "priority", ["mon-fri 00:00-06:00"], ["+14155550120"]))
    step = severity_chosen(phonebook, CallState(), Reading("1"), US_LINE, utc("2026-12-01T12:00Z"))
    assert step.routing is not None and step.routing.candidates == ()
    assert step.then == Voicemail()


# --- ringing and the dial outcome --------------------------------------------------------------

RINGING = (
    toml_table("service", name="Support", portal="https://help.example.com/")
    + toml_team("first", "priority", ["24/7"], ["+14155550101", "+14155550102", "+14155550103"], ring="in-order",
                ring_seconds=15)
    + toml_team("both", "select", ["24/7"], ["+14155550110", "+31205550110"], label="Global", ring="together",
                ring_seconds=25)
    + toml_table("fallback", label="duty manager", dial=["+14155550142"], ring_seconds=40)
)
PLAN = ("first", "both", "fallback")
CONNECTING_FIRST = "Connecting you to our First Priority Support team."
CONNECTING_BOTH = "Connecting you to our Global Select Support team."
CONNECTING_FALLBACK = "Connecting you to our Support duty manager."


@pytest.fixture(scope="module")
def ringing():
    return phonebook_from(RINGING)


def at_dial(candidate: int, number: int = 0, attempt: int = 1, plan: tuple[str, ...] = PLAN) -> CallState:
    return CallState(sen="1234567", severity=1, plan=plan, candidate=candidate, number=number, attempt=attempt)


@pytest.mark.parametrize(("name", "number", "numbers"), [
    ("first", 0, ("+14155550101",)),
    ("first", 2, ("+14155550103",)),
    ("first", 3, ()),
    ("both", 0, ("+14155550110", "+31205550110")),
    ("fallback", 0, ("+14155550142",)),
], ids=["in order: the first", "in order: the third", "in order: beyond the last", "together: all at once",
        "the fallback"])
def test_one_dial_rings_the_numbers_together_or_one_by_one_in_order(ringing, name, number, numbers):
    assert numbers_at(candidate(ringing, name), number) == numbers


def test_nobody_to_look_up_means_no_numbers():
    assert numbers_at(None, 0) == ()


@pytest.mark.parametrize(("state", "spoken", "expected"), [
    (at_dial(0, attempt=0), (), Connect((CONNECTING_FIRST,), ("+14155550101",), 15, at_dial(0))),
    (at_dial(1, attempt=2), ("Before.",),
     Connect(("Before.", CONNECTING_BOTH), ("+14155550110", "+31205550110"), 25, at_dial(1, attempt=3))),
    # The next number of a team ringing in order: no new announcement.
    (at_dial(0, number=1, attempt=1), (), Connect((), ("+14155550102",), 15, at_dial(0, number=1, attempt=2))),
    # A candidate gone from the phonebook since routing is skipped.
    (at_dial(0, attempt=0, plan=("gone", "fallback")), (),
     Connect((CONNECTING_FALLBACK,), ("+14155550142",), 40, at_dial(1, attempt=1, plan=("gone", "fallback")))),
    (at_dial(0, attempt=0, plan=("gone",)), ("Before.",), Voicemail(("Before.",))),
    (CallState(severity=1), (), Voicemail()),
], ids=["first candidate", "a later candidate after words", "next number in order", "skips a gone candidate",
        "nobody left", "an empty plan"])
def test_ring_points_at_a_candidate_still_listed_or_takes_a_voicemail(ringing, state, spoken, expected):
    assert ring(ringing, state, spoken) == expected


NOBODY_AT_FIRST = "Nobody at First Priority Support could take the call."
NOBODY_AT_BOTH = "Nobody at Global Select Support could take the call."
NOBODY_AT_FALLBACK = "Our Support duty manager could not take the call."


@pytest.mark.parametrize(("state", "accepted", "gone", "expected"), [
    (at_dial(0), True, False, Hangup()),
    (at_dial(0), False, True, Hangup()),
    (at_dial(2, attempt=5), True, True, Hangup()),
    # In order: the next number, then after the last number the next candidate.
    (at_dial(0, number=0, attempt=1), False, False,
     Connect((), ("+14155550102",), 15, at_dial(0, number=1, attempt=2))),
    (at_dial(0, number=1, attempt=2), False, False,
     Connect((), ("+14155550103",), 15, at_dial(0, number=2, attempt=3))),
    (at_dial(0, number=2, attempt=3), False, False,
     Connect((NOBODY_AT_FIRST, CONNECTING_BOTH), ("+14155550110", "+31205550110"), 25, at_dial(1, attempt=4))),
    # Together: one dial, then the next candidate.
    (at_dial(1, attempt=4), False, False,
     Connect((NOBODY_AT_BOTH, CONNECTING_FALLBACK), ("+14155550142",), 40, at_dial(2, attempt=5))),
    # The last candidate: a voicemail.
    (at_dial(2, attempt=5), False, False, Voicemail((NOBODY_AT_FALLBACK,))),
    (at_dial(1, attempt=1, plan=("first", "both")), False, False, Voicemail((NOBODY_AT_BOTH,))),
    # A candidate gone since the dial began: nobody to name.
    (at_dial(0, attempt=1, plan=("gone", "both")), False, False,
     Connect((CONNECTING_BOTH,), ("+14155550110", "+31205550110"), 25, at_dial(1, attempt=2, plan=("gone", "both")))),
], ids=["bridged", "caller gone", "bridged and gone", "in order: 2nd number", "in order: 3rd number",
        "in order: after the last number", "together: next candidate", "last candidate: voicemail",
        "last team: voicemail", "gone candidate"])
def test_a_dial_outcome_ends_the_call_or_rings_on_then_takes_a_voicemail(ringing, state, accepted, gone, expected):
    assert dial_ended(ringing, state, accepted, gone) == expected


@pytest.mark.parametrize(("dial_bridged", "dial_call_status", "expected"), [
    ("true", "completed", True),
    ("false", "completed", False),
    ("", "completed", True),
    ("", "no-answer", False),
    ("", "", False),
], ids=["bridged", "not bridged though completed", "old request, completed", "old request, no answer", "nothing"])
def test_dial_bridged_says_whether_an_engineer_accepted_or_else_the_status(dial_bridged, dial_call_status, expected):
    assert bridged(dial_bridged, dial_call_status) is expected


@pytest.mark.parametrize(("call_status", "dial_call_status", "expected"), [
    ("completed", "no-answer", True),
    ("canceled", "", True),
    ("in-progress", "canceled", True),
    ("in-progress", "no-answer", False),
    ("in-progress", "busy", False),
])
def test_the_caller_is_gone_when_the_call_ended_or_the_dial_was_canceled(call_status, dial_call_status, expected):
    assert caller_gone(call_status, dial_call_status) is expected


# --- the engineer's leg ------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "expected"), [
    (CallState(sen="1234567", severity=1), True),
    (CallState(sen="1234567", severity=1, verified=False), False),
    (CallState(severity=1), False),
    (CallState(sen="1234567"), False),
], ids=["verified sen", "unverified sen", "no sen", "a rescue (no severity)"])
def test_the_whisper_looks_up_only_a_verified_sen_of_a_routed_call(state, expected):
    assert looks_up_customer(state) is expected


@pytest.mark.parametrize(("state", "line", "named", "text"), [
    (CallState(sen="1234567", severity=1), US_LINE, True,
     "Priority Support, level 1 call from Acme Corporation, SEN 1 2 3 4 5 6 7, on the United States & Canada line. "
     "Press 1 to accept."),
    (CallState(sen="1234567", severity=1, verified=False), NL_LINE, False,
     "Priority Support, level 1 call from an unknown customer, SEN 1 2 3 4 5 6 7, SEN not verified, on the "
     "Netherlands line. Press 1 to accept."),
    (CallState(severity=1), "+15555550100", False,
     "Priority Support, level 1 call from an unknown customer, no SEN, on the +15555550100 line. Press 1 to accept."),
    (CallState(), US_LINE, False,
     "Priority Support call on the United States & Canada line, put through after a system error. Press 1 to accept."),
], ids=["named customer", "unverified", "unpublished line", "rescue"])
def test_the_whisper_tells_the_engineer_who_calls_on_which_line(sample, customers, state, line, named, text):
    customer = customers["Acme Corporation"] if named else None
    assert whisper_text(sample, state, line, customer) == text


# --- never strand a caller ---------------------------------------------------------------------

NO_FALLBACK = (
    toml_team("office", "priority", ["24/7"], ["+14155550101"], ring_seconds=15)
    + toml_team("global", "select", ["24/7"], ["+14155550110", "+31205550110"], ring_seconds=25)
    + toml_team("weekend", "select", ["sat-sun 00:00-24:00"], ["+14155550111"], ring_seconds=20)
)


def test_the_rescue_rings_the_fallback(sample):
    assert rescue_numbers(sample) == (("+14155550142",), 30)
    assert rescue(sample, False, False) == Rescue((prompts.RESCUE,), ("+14155550142",), 30)


def test_without_a_fallback_the_rescue_rings_every_select_team_together_for_the_longest_ring():
    phonebook = phonebook_from(NO_FALLBACK)
    assert rescue_numbers(phonebook) == (("+14155550110", "+31205550110", "+14155550111"), 25)


def test_with_nobody_to_ring_the_rescue_apologises():
    phonebook = phonebook_from(NO_FALLBACK.split("[teams.global]")[0])
    assert rescue_numbers(phonebook) == ((), 0)
    assert rescue(phonebook, False, False) == Goodbye((prompts.RESCUE_FAILED,))


@pytest.mark.parametrize(("accepted", "gone"), [(True, False), (False, True)], ids=["bridged", "caller gone"])
def test_the_rescue_never_rings_again_once_an_engineer_took_the_call_or_the_caller_left(sample, accepted, gone):
    assert rescue(sample, accepted, gone) == Hangup()
    assert rescued(accepted, gone) == Hangup()


def test_a_rescue_nobody_answered_takes_a_voicemail():
    assert rescued(False, False) == Voicemail()
