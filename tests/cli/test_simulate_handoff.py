"""The live warm handoff played through the simulator, in-process, at pinned instants: the engineer
presses *, the next office answers and accepts, the first engineer leaves; and what goes wrong."""

from calls import ACME_ADMIN, AMSTERDAM, NL_LINE, SF, SYDNEY, US_LINE, play

from ivr.callflow import prompts
from ivr.engine.events import HandoffAsked, HandoffDial, Joined, Left, Screened
from ivr.engine.outcomes import Event, Outcome, summarise

HANDOFF = ["*", "1", "hangup"]
WHISPER_FROM_AMSTERDAM = (
    "Handoff of a level 1 call from Acme Corporation, SEN 1 2 3 4 5 6 7, from the Amsterdam team. Press 1 to join."
)


def turns_from(call, who: str, what: str) -> list[tuple[str, str]]:
    """The transcript from the first turn of `who` saying `what` on."""
    pairs = [(t.who, t.what) for t in call.turns]
    return pairs[pairs.index((who, what)):]


def summary(call):
    stored = [Event("CA1", e.key, e.at, e.record) for e in call.events.events]
    return summarise("CA1", stored)


def test_one_minute_before_amsterdam_goes_off_the_engineer_hands_the_call_to_san_francisco_and_leaves(tmp_path):
    # Tue 2026-12-01 17:59Z: 18:59 in Amsterdam, which goes off at 19:00; San Francisco is on since 15:00Z.
    call = play(tmp_path, "2026-12-01T17:59Z", NL_LINE, caller=ACME_ADMIN, press="1",
                answer=[AMSTERDAM[0], SF[0]], engineer_keys=HANDOFF)
    assert turns_from(call, "engineer presses", "*") == [
        ("engineer presses", "*"),
        ("caller hears", prompts.HOLD),
        ("caller hears", "hold music"),
        ("engineer hears", "Press 1 to bring in the next office, San Francisco Priority Support."),
        ("engineer hears", "Press 2 to bring in another number of your team."),
        ("engineer hears", "Press 0 to go back to the customer."),
        ("engineer presses", "1"),
        ("engineer hears", "Ringing San Francisco Priority Support."),
        ("rings", SF[0]),
        ("answers", SF[0]),
        ("colleague hears", WHISPER_FROM_AMSTERDAM),
        ("colleague presses", "1"),
        ("connected", f"caller and {SF[0]}"),
        ("colleague", "accepts"),
        ("engineer hears", prompts.HANDOFF_JOINED),
        ("joins", f"{AMSTERDAM[0]}, in the call's conference room"),
        ("hangs up", f"{AMSTERDAM[0]} leaves the call"),
        # The call goes on between the caller and San Francisco; the caller hanging up ends it.
        ("hangs up", "the caller, which ends the call for everyone in it"),
        ("hangs up", f"the service ends the call to {SF[0]}"),
        ("ends", call.said("ends")[0]),
    ]
    # The caller never heard the menu, nor the colleague's whisper.
    assert "Press 1 to bring in" not in call.heard() and "Handoff of" not in call.heard()
    events = call.events
    assert events.of(HandoffAsked) == [HandoffAsked(attempt=1, by=AMSTERDAM[0], team="san_francisco")]
    assert [(d.team, d.numbers, d.joined) for d in events.of(HandoffDial)] == [("san_francisco", (SF[0],), True)]
    assert [(j.number, j.team) for j in events.of(Joined)] == [(AMSTERDAM[0], "amsterdam"), (SF[0], "san_francisco")]
    assert [left.number for left in events.of(Left)] == [AMSTERDAM[0], SF[0]]
    assert summary(call).outcome is Outcome.ANSWERED and summary(call).team == "amsterdam"


def test_in_the_week_between_the_dst_changes_the_handoff_at_18_utc_still_goes_to_san_francisco(tmp_path):
    # Tue 2026-10-27 17:59Z: Amsterdam on CET (18:59), San Francisco still on PDT (10:59).
    call = play(tmp_path, "2026-10-27T17:59Z", NL_LINE, caller=ACME_ADMIN, press="1",
                answer=[AMSTERDAM[1], SF[0]], engineer_keys=HANDOFF)
    assert ("engineer hears", "Press 1 to bring in the next office, San Francisco Priority Support.") in [
        (t.who, t.what) for t in call.turns]
    assert call.said("colleague hears") == [WHISPER_FROM_AMSTERDAM]
    assert call.said("joins") == [f"{AMSTERDAM[1]}, in the call's conference room"]
    assert call.events.of(HandoffDial)[0].joined is True


def test_one_minute_before_sydney_goes_off_in_its_summer_the_call_goes_to_amsterdam(tmp_path):
    # Tue 2026-12-01 07:59Z: 18:59 AEDT in Sydney; Amsterdam is on from 06:00Z (07:00 CET).
    call = play(tmp_path, "2026-12-01T07:59Z", "+61255501000", caller=ACME_ADMIN, press="1",
                answer=[SYDNEY[0], AMSTERDAM[0]], engineer_keys=HANDOFF)
    assert call.said("rings") == [", ".join(SYDNEY), ", ".join(AMSTERDAM)]
    assert call.said("colleague hears") == [
        "Handoff of a level 1 call from Acme Corporation, SEN 1 2 3 4 5 6 7, from the Sydney team. Press 1 to join."
    ]
    assert call.said("connected")[-1] == f"caller and {AMSTERDAM[0]}"


def test_a_handoff_nobody_accepts_tells_the_engineer_and_puts_them_back_with_the_caller(tmp_path):
    call = play(tmp_path, "2026-12-01T17:59Z", NL_LINE, caller=ACME_ADMIN, press="1",
                answer=[AMSTERDAM[0]], engineer_keys=["*", "1"])
    assert turns_from(call, "engineer hears", "Ringing San Francisco Priority Support.")[:8] == [
        ("engineer hears", "Ringing San Francisco Priority Support."),
        ("rings", SF[0]),
        ("no answer", f"{SF[0]} after 15 s"),
        ("rings", SF[1]),
        ("no answer", f"{SF[1]} after 15 s"),
        ("waits", "the caller, in the call's conference room"),
        ("engineer hears", "Nobody at San Francisco Priority Support could join. Back to the customer."),
        ("joins", f"{AMSTERDAM[0]}, in the call's conference room"),
    ]
    assert [d.joined for d in call.events.of(HandoffDial)] == [False, False]
    assert summary(call).outcome is Outcome.ANSWERED


def test_the_caller_hanging_up_on_hold_ends_the_handoff_for_everyone(tmp_path):
    call = play(tmp_path, "2026-12-01T17:59Z", NL_LINE, caller=ACME_ADMIN, press="1",
                answer=[AMSTERDAM[0], SF[0]], engineer_keys=["*", "1"], hangs_up_on_hold=True)
    assert turns_from(call, "caller hears", "hold music")[:2] == [
        ("caller hears", "hold music"), ("hangs up", "the caller, on hold"),
    ]
    # The colleague who presses 1 is told and not moved; the engineer who rang them is told too.
    assert call.said("colleague hears") == [WHISPER_FROM_AMSTERDAM, prompts.CUSTOMER_GONE]
    assert call.said("engineer hears")[-1] == prompts.CUSTOMER_GONE
    assert [j.number for j in call.events.of(Joined)] == [AMSTERDAM[0]]
    assert call.said("connected") == [f"caller and {AMSTERDAM[0]}"]


def test_the_first_engineer_hanging_up_before_the_colleague_joins_leaves_the_caller_to_that_office(tmp_path):
    call = play(tmp_path, "2026-12-01T17:59Z", NL_LINE, caller=ACME_ADMIN, press="1",
                answer=[AMSTERDAM[0], SF[0]], engineer_keys=["*", "1", "hangup-ringing"])
    assert turns_from(call, "hangs up", f"{AMSTERDAM[0]}, while {SF[0]} ring")[:6] == [
        ("hangs up", f"{AMSTERDAM[0]}, while {SF[0]} ring"),
        ("caller hears", prompts.ENGINEER_GONE),
        ("caller hears", "Connecting you to our San Francisco Priority Support team."),
        ("rings", SF[0]),
        ("answers", SF[0]),
        # Rung for the caller now, San Francisco hears the usual whisper.
        ("engineer hears", "Priority Support, level 1 call from Acme Corporation, SEN 1 2 3 4 5 6 7, "
                           "on the Netherlands line. Press 1 to accept."),
    ]
    assert call.said("connected")[-1] == f"caller and {SF[0]}"
    assert call.events.of(Left)[0].number == AMSTERDAM[0]
    assert [s.number for s in call.events.of(Screened)] == [AMSTERDAM[0], SF[0]]


def test_an_engineer_who_hangs_up_in_the_menu_does_not_leave_the_caller_on_hold(tmp_path):
    call = play(tmp_path, "2026-12-01T17:59Z", NL_LINE, caller=ACME_ADMIN, press="1",
                answer=[AMSTERDAM[0], SF[0]], engineer_keys=["*", "hangup"])
    assert turns_from(call, "hangs up", f"{AMSTERDAM[0]}, in the menu")[:4] == [
        ("hangs up", f"{AMSTERDAM[0]}, in the menu"),
        # After the music, the caller's leg finds the engineer gone: the next office rings.
        ("caller hears", prompts.ENGINEER_GONE),
        ("caller hears", "Connecting you to our San Francisco Priority Support team."),
        ("rings", SF[0]),
    ]
    assert call.said("connected")[-1] == f"caller and {SF[0]}"


def test_the_engineer_on_a_call_hears_the_reminder_ten_minutes_before_the_team_goes_off(tmp_path):
    # Answered at 17:45Z: the reminder falls 5 minutes into the call, at 17:50Z.
    call = play(tmp_path, "2026-12-01T17:45Z", NL_LINE, caller=ACME_ADMIN, press="1", answer=[AMSTERDAM[0]])
    assert call.said("engineer hears")[1:] == [prompts.HANDOFF_REMINDER]
    assert prompts.HANDOFF_REMINDER not in call.heard()
    # An engineer whose team stays on for hours hears none.
    early = play(tmp_path, "2026-12-01T12:00Z", NL_LINE, caller=ACME_ADMIN, press="1", answer=[AMSTERDAM[0]])
    assert prompts.HANDOFF_REMINDER not in early.said("engineer hears")


def test_bringing_in_another_number_of_the_own_team(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, caller=ACME_ADMIN, press="1",
                answer=[SF[0]], engineer_keys=["*", "2"])
    # San Francisco's other number is rung from the engineer's leg; nobody answers it.
    assert call.said("rings")[-1] == SF[1]
    assert call.events.of(HandoffAsked) == [HandoffAsked(attempt=1, by=SF[0], team="san_francisco", own_team=True)]

