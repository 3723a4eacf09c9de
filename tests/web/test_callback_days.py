"""Callbacks on pinned days (time-machine moves the wall clock the call log and its alerts keep),
with calls placed through the simulator into the service's own call log: the night the US clocks go
back, a week between the European and the American changes, and an office's holiday. The right
callbacks open with the right due times, close in each of the three ways, and a callback still open
at its due time alerts once, however many instances sweep the one database."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import responses
import time_machine
from calls import ACME_ADMIN, AU_LINE, SELECT, SF, TOKEN, US_LINE, post, twiml
from conftest import TWILIO_ACCOUNT, fresh_schema, globex_current, make_app, utc
from pages import api, page_of, signed_in, token

from ivr.cli import simulate
from ivr.web.services import services_of

GLOBEX_ADMIN = "+31612345678"  # an admin of Globex, a Premier customer
ACME_MOBILE = "+61491570156"  # another admin of Acme, a Priority customer
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json"
CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Calls.json"
WEBHOOK = "https://hooks.example.com/services/T000/B000/priority-support"
OUTBOUND = "CA" + "c" * 32


@pytest.fixture
def phonebook(tmp_path):
    return globex_current(tmp_path)


@pytest.fixture
def twilio():
    """Twilio's REST API and the alert webhook, answering; what they were sent is in `.calls`."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(MESSAGES, status=201, json={"sid": "SM1", "status": "queued"})
        mock.post(WEBHOOK, status=200, body="ok")
        mock.post(CALLS, status=201, json={"sid": OUTBOUND, "status": "queued"})
        yield mock


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """One call log's URL for several instances: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/shared/calllog.sqlite3"
        return
    with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


class Instance:
    """The service (its own instance folder and journal, its own alert thread) and a phone to call it."""

    def __init__(self, folder, phonebook, **config):
        self.app = make_app(folder, phonebook, **config)
        self.phone = simulate.Simulator(simulate.InProcess(self.app), TOKEN, TWILIO_ACCOUNT)

    def call(self, to, caller, answers=()):
        """An L1 call; the numbers in `answers` pick up and press 1, the rest ring out (then voicemail).
        Stored before the call returns, as a later call would find it."""
        turns = self.phone.call(to, caller, ["1"], answers)
        assert services_of(self.app).calllog.caught_up()
        return turns

    def callbacks(self, query="state=all"):
        return api(self.app.test_client(), f"/ops/api/callbacks?{query}")["callbacks"]

    def alerts_sent(self):
        assert services_of(self.app).alerts.drain(30)


def signed(client, url, form):
    """POST what Twilio sends to `url` (absolute, or a path of the service), signed as Twilio signs it."""
    absolute = url if url.startswith("http") else f"{simulate.IN_PROCESS_BASE}{url}"
    return post(client, absolute.removeprefix(simulate.IN_PROCESS_BASE), form, url=absolute)


def rang(turns):
    return [t.what for t in turns if t.who == "rings"]


def overdue_alerts(twilio):
    """The overdue alerts sent: each text's body, and each webhook's text."""
    texts = [parse_qs(c.request.body)["Body"][0] for c in twilio.calls if c.request.url == MESSAGES]
    hooks = [c.request.body.decode() for c in twilio.calls if c.request.url == WEBHOOK]
    return [t for t in texts if t.startswith("Overdue callback")], [h for h in hooks if "Overdue callback" in h]


def test_on_the_night_the_us_clocks_go_back_callbacks_fall_due_in_elapsed_time_and_escalate_once_from_two_instances(
        tmp_path, phonebook, database, twilio):
    # Sunday 2026-11-01, 01:30 PDT; at 09:00Z the clocks in San Francisco go back from 02:00 to 01:00.
    with time_machine.travel(utc("2026-11-01T08:30Z"), tick=False) as clock:
        one = Instance(tmp_path / "one", phonebook, DATABASE_URL=database)
        two = Instance(tmp_path / "two", phonebook, DATABASE_URL=database)
        # The weekend: Select rings first; nobody answers, and Acme leaves a voicemail.
        assert rang(one.call(US_LINE, ACME_ADMIN))[0] == ", ".join(SELECT)
        clock.move_to(utc("2026-11-01T08:40Z"))
        two.call(US_LINE, GLOBEX_ADMIN)
        # One hour and thirty minutes of elapsed time: Acme's is due at 01:30 PST, the wall-clock
        # time it called at; Globex's at 01:10 PST, earlier on the wall than its call at 01:40 PDT.
        assert [(c["customer"], c["tier"], c["due_at"], c["state"]) for c in one.callbacks("state=open")] == [
            ("Globex", "premier", "2026-11-01T09:10:00Z", "open"),
            ("Acme Corporation", "priority", "2026-11-01T09:30:00Z", "open")]
        assert two.callbacks() == one.callbacks()
        acme = one.callbacks("state=open")[1]

        # After the change, before Acme's is due: Globex's is overdue; ops closes Acme's by hand.
        clock.move_to(utc("2026-11-01T09:20Z"))
        assert [c["customer"] for c in two.callbacks("state=overdue")] == ["Globex"]
        browser = signed_in(two.app)
        path = f"/ops/callbacks/{acme['id']}"
        note = "reached on her mobile, ticket PS-77"
        reply = browser.post(f"{path}/close", data={"note": note, "csrf_token": token(browser.get(path).get_data(
            as_text=True))})
        assert reply.status_code == 303
        for instance in (one, two):
            instance.alerts_sent()
        clock.move_to(utc("2026-11-01T11:00Z"))
        for instance in (one, two):
            instance.alerts_sent()

        # Both alert threads swept the due alert; one sent it, once to each destination.
        texts, hooks = overdue_alerts(twilio)
        assert len(texts) == 1 and len(hooks) == 1
        assert texts[0].startswith("Overdue callback: Globex (SEN-2345678, from +31612345678) after a missed L1 call "
                                   "on the United States & Canada line +14155550100 from 2026-11-01T08:40:00Z; the "
                                   "call back was due at 2026-11-01T09:10:00Z")
        assert "On duty now: Global Select Support." in texts[0]
        closed = api(one.app.test_client(), f"/ops/api/callbacks/{acme['id']}")
        assert (closed["state"], closed["closed_how"], closed["closed_by"], closed["note"], closed["closed_at"]) == (
            "closed", "by-hand", "ops", note, "2026-11-01T09:20:00Z")
        assert [c["customer"] for c in one.callbacks("state=overdue")] == ["Globex"]


def test_on_an_office_holiday_a_missed_call_opens_a_callback_and_the_customer_answered_later_closes_it(
        tmp_path, phonebook, twilio):
    # Thursday 2026-12-24, 15:00 in Sydney: Sydney's office holiday, San Francisco and Amsterdam off.
    with time_machine.travel(utc("2026-12-24T04:00Z"), tick=False) as clock:
        service = Instance(tmp_path, phonebook)
        assert rang(service.call(AU_LINE, ACME_MOBILE))[0] == ", ".join(SELECT)
        [callback] = service.callbacks()
        assert (callback["state"], callback["tier"], callback["from"], callback["line"], callback["due_at"]) == (
            "open", "priority", ACME_MOBILE, AU_LINE, "2026-12-24T05:00:00Z")
        assert callback["voicemail_url"]

        # Acme calls again from another of its numbers, and Select takes the call.
        clock.move_to(utc("2026-12-24T04:20Z"))
        service.call(AU_LINE, ACME_ADMIN, answers=[SELECT[0]])
        [answered] = api(service.app.test_client(), "/ops/api/calls?outcome=answered")["calls"]
        closed = api(service.app.test_client(), f"/ops/api/callbacks/{callback['id']}")
        assert (closed["state"], closed["closed_how"], closed["closed_by_call"]) == ("closed", "answered",
                                                                                   answered["sid"])
        assert [(s["step"], s["call"]) for s in closed["history"]] == [
            ("opened", callback["first_call"]), ("closed", answered["sid"])]

        # Past its due time nothing escalates.
        clock.move_to(utc("2026-12-24T06:00Z"))
        service.alerts_sent()
        assert overdue_alerts(twilio) == ([], [])


def test_in_the_week_between_the_dst_changes_the_console_calls_back_the_office_on_duty_and_closes_it(
        tmp_path, phonebook, twilio):
    # Tuesday 2026-10-27: Amsterdam is on CET already, San Francisco still on PDT, so its 07:00 is 14:00Z.
    with time_machine.travel(utc("2026-10-27T14:30Z"), tick=False) as clock:
        service = Instance(tmp_path, phonebook)
        assert rang(service.call(US_LINE, GLOBEX_ADMIN))[0] == SF[0]
        [callback] = service.callbacks()
        assert (callback["tier"], callback["due_at"]) == ("premier", "2026-10-27T15:00:00Z")

        clock.move_to(utc("2026-10-27T14:40Z"))
        browser = signed_in(service.app)
        path = f"/ops/callbacks/{callback['id']}"
        page = page_of(browser, path)
        # The numbers offered to ring first are San Francisco's, on duty for 40 minutes now.
        offered = [(o.get("value"), o.text) for o in page.iter("option")]
        assert offered[:2] == [(number, "San Francisco Priority Support") for number in SF]
        csrf = token(browser.get(path).get_data(as_text=True))
        assert browser.post(f"{path}/call", data={"engineer": SF[1], "csrf_token": csrf}).status_code == 303
        [placed] = [c for c in twilio.calls if c.request.url == CALLS]
        sent = {k: v[0] for k, v in parse_qs(placed.request.body).items()}
        assert (sent["To"], sent["From"]) == (SF[1], US_LINE)

        # Twilio's side: the engineer presses 1, then Globex's admin picks up.
        twilio_side = service.app.test_client()
        leg = {"CallSid": OUTBOUND, "AccountSid": TWILIO_ACCOUNT, "From": US_LINE, "To": SF[1],
               "CallStatus": "in-progress", "Direction": "outbound-api"}
        whisper = twiml(signed(twilio_side, sent["Url"], leg))
        dial = twiml(signed(twilio_side, whisper.find("Gather").get("action"), {**leg, "Digits": "1"})).find("Dial")
        assert (dial.get("callerId"), dial.find("Number").text) == (US_LINE, GLOBEX_ADMIN)
        clock.move_to(utc("2026-10-27T14:41Z"))
        customer_leg = {**leg, "CallSid": "CA" + "d" * 32, "ParentCallSid": OUTBOUND, "To": GLOBEX_ADMIN,
                        "Direction": "outbound-dial"}
        twiml(signed(twilio_side, dial.find("Number").get("url"), customer_leg))

        closed = api(service.app.test_client(), f"/ops/api/callbacks/{callback['id']}")
        assert (closed["state"], closed["closed_how"], closed["closed_by_call"], closed["closed_at"]) == (
            "closed", "called-back", OUTBOUND, "2026-10-27T14:41:00Z")
        assert [(s["step"], s["who"]) for s in closed["history"]] == [("opened", None), ("called", "ops"),
                                                                      ("closed", None)]
        clock.move_to(utc("2026-10-27T16:00Z"))
        service.alerts_sent()
        assert overdue_alerts(twilio) == ([], [])
