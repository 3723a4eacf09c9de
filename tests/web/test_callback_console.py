"""Callbacks through the service: missed L1 calls placed with the simulator open them with the
response time of the customer's tier, a call answered later closes them, and the console closes
them by hand through a form that carries the session's token."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
from calls import twiml
from conftest import SAMPLE, TWILIO_ACCOUNT, TWILIO_TOKEN, FakeClock, globex_current, make_app, utc
from pages import api, basic, by_id, page_of, rows, signed_in, text_of, token
from twilio.request_validator import RequestValidator

from ivr.cli import simulate
from ivr.web import callbacks as callbacks_web
from ivr.web import ops
from ivr.web.services import services_of

US_LINE = "+14155550100"
ACME_ADMIN = "+14155551234"  # an admin of Acme Corporation, a Priority customer
SF_FIRST = "+14155550101"
WEEKDAY = utc("2026-12-01T16:00Z")  # San Francisco and Amsterdam on duty
GLOBEX_ADMIN = "+31612345678"  # an admin of Globex, a Premier customer


@pytest.fixture
def clock():
    return FakeClock(WEEKDAY)


def service(tmp_path, clock, phonebook=SAMPLE):
    app = make_app(tmp_path, phonebook, CLOCK=clock)
    return app, simulate.Simulator(simulate.InProcess(app), TWILIO_TOKEN, TWILIO_ACCOUNT)


def acme_missed(tmp_path, clock):
    """The service after Acme's L1 call at 16:00 went to voicemail: the app, the callback that call
    opened, and the callback's page."""
    app, phone = service(tmp_path, clock)
    phone.call(US_LINE, ACME_ADMIN, ["1"], [])
    [callback] = api(app.test_client(), "/ops/api/callbacks")["callbacks"]
    return app, callback, f"/ops/callbacks/{callback['id']}"


def test_a_missed_l1_call_owes_a_callback_in_the_tiers_response_time_and_a_later_answer_closes_it(tmp_path, clock):
    app, phone = service(tmp_path, clock)
    client = app.test_client()
    phone.call(US_LINE, ACME_ADMIN, ["1"], [])  # nobody takes it: a voicemail
    [callback] = api(client, "/ops/api/callbacks")["callbacks"]
    assert {k: callback[k] for k in ("state", "customer", "sen", "tier", "from", "line", "due_at", "due_in_seconds")} == {
        "state": "open", "customer": "Acme Corporation", "sen": "SEN-1234567", "tier": "priority",
        "from": ACME_ADMIN, "line": US_LINE, "due_at": "2026-12-01T17:00:00Z", "due_in_seconds": 3600}
    assert callback["voicemail_url"]
    metrics = client.get("/metrics", headers=basic()).get_data(as_text=True)
    assert 'ivr_callbacks{state="open"} 1.0' in metrics and 'ivr_callbacks{state="overdue"} 0.0' in metrics

    clock.now = WEEKDAY + timedelta(minutes=20)
    phone.call(US_LINE, ACME_ADMIN, ["1"], [SF_FIRST])  # Acme calls again and San Francisco takes it
    assert api(client, "/ops/api/callbacks")["callbacks"] == []
    closed = api(client, f"/ops/api/callbacks/{callback['id']}")
    answered = api(client, "/ops/api/calls?outcome=answered")["calls"][0]["sid"]
    assert (closed["state"], closed["closed_how"], closed["closed_by_call"]) == ("closed", "answered", answered)
    assert [step["step"] for step in closed["history"]] == ["opened", "closed"]
    # Both calls' pages lead to the callback, whose page has its history.
    browser = signed_in(app)
    for sid in (closed["first_call"], answered):
        assert f'<a href="/ops/callbacks/{callback["id"]}">#{callback["id"]}</a>' in browser.get(
            f"/ops/calls/{sid}").get_data(as_text=True)
    history = browser.get(f"/ops/callbacks/{callback['id']}").get_data(as_text=True)
    assert f'<a href="/ops/calls/{answered}">{answered}</a>' in history and 'id="close"' not in history


def test_the_phonebooks_response_time_sets_the_due_time_and_it_shows_overdue(tmp_path, clock):
    phonebook = tmp_path / "phonebook.toml"
    phonebook.write_text(SAMPLE.read_text() + "\n[response_times.priority]\n1 = 15\n")
    app, phone = service(tmp_path, clock, phonebook)
    client = app.test_client()
    phone.call(US_LINE, ACME_ADMIN, ["1"], [])
    clock.now = WEEKDAY + timedelta(minutes=20)
    [callback] = api(client, "/ops/api/callbacks?state=overdue")["callbacks"]
    assert (callback["due_at"], callback["due_in_seconds"]) == ("2026-12-01T16:15:00Z", -300)
    page = signed_in(app).get("/ops/callbacks").get_data(as_text=True)
    assert '<strong class="error">overdue by 5 min</strong>' in page and "Acme Corporation" in page
    metrics = client.get("/metrics", headers=basic()).get_data(as_text=True)
    assert 'ivr_callbacks{state="overdue"} 1.0' in metrics


def test_closing_by_hand_needs_the_sessions_token_and_notes_who_and_why(tmp_path, clock):
    app, callback, path = acme_missed(tmp_path, clock)
    api_path = f"/ops/api/callbacks/{callback['id']}"
    browser = signed_in(app)
    page = browser.get(path).get_data(as_text=True)
    assert 'id="close"' in page
    # Another site's form (no token), or one with a token of another sign-in, changes nothing.
    other = token(signed_in(app).get(path).get_data(as_text=True))
    assert other != token(page)
    for form in ({"note": "forged"}, {"note": "forged", "csrf_token": other}):
        assert browser.post(f"{path}/close", data=form).status_code == 403
    assert api(app.test_client(), api_path)["state"] == "open"
    assert browser.post(f"{path}/close", data={"note": " ", "csrf_token": token(page)}).status_code == 400

    clock.now = WEEKDAY + timedelta(minutes=10)
    reply = browser.post(f"{path}/close", data={"note": "reached by e-mail, ticket PS-42", "csrf_token": token(page)})
    assert reply.status_code == 303 and reply.headers["Location"] == path
    closed = api(app.test_client(), api_path)
    assert (closed["state"], closed["closed_how"], closed["closed_by"], closed["note"], closed["closed_at"]) == (
        "closed", "by-hand", "ops", "reached by e-mail, ticket PS-42", "2026-12-01T16:10:00Z")
    assert closed["history"][-1] == {"at": "2026-12-01T16:10:00Z", "step": "closed", "call": None, "who": "ops",
                                     "note": "reached by e-mail, ticket PS-42"}
    assert browser.post(f"{path}/close", data={"note": "again", "csrf_token": token(page)}).status_code == 409
    shown = browser.get(path).get_data(as_text=True)
    assert 'id="close"' not in shown and "reached by e-mail, ticket PS-42" in shown


@pytest.mark.parametrize("query", ["state=late", "since=yesterday", "until=2026-12-01T09:00", "limit=0", "limit=x"])
def test_a_bad_filter_is_a_400_that_says_why(tmp_path, clock, query):
    app, _ = service(tmp_path, clock)
    reply = app.test_client().get(f"/ops/api/callbacks?{query}", headers=basic())
    assert reply.status_code == 400 and reply.get_json()["error"]
    for missing in ("/ops/callbacks/12345", f"/ops/callbacks/{2**63}"):
        assert signed_in(app).get(missing).status_code == 404


def test_the_console_links_the_callbacks_page_from_every_page(tmp_path, clock):
    app, _ = service(tmp_path, clock)
    page = signed_in(app).get("/ops/callbacks").get_data(as_text=True)
    assert '<a href="/ops/callbacks" class="here">Callbacks</a>' in page
    assert 'id="no-callbacks"' in page
    services_of(app).calllog.close()


# --- calling back through Twilio ------------------------------------------------------------------

CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Calls.json"
OUTBOUND = "CA" + "c" * 32


def twilio_post(client, url, form):
    """What Twilio sends to `url` (an absolute URL the service gave it), signed."""
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    return client.post(url.removeprefix(simulate.IN_PROCESS_BASE), data=form,
                       headers={"X-Twilio-Signature": signature})


def test_call_back_rings_the_engineer_then_the_customer_from_the_line_and_closes_when_they_answer(tmp_path, clock):
    app, callback, path = acme_missed(tmp_path, clock)
    browser = signed_in(app)
    page = browser.get(path).get_data(as_text=True)
    # Whoever a call on the customer's line reaches now is offered first.
    assert f'<option value="{SF_FIRST}">San Francisco Priority Support</option>' in page
    clock.now = WEEKDAY + timedelta(minutes=5)
    assert browser.post(f"{path}/call", data={"engineer": SF_FIRST}).status_code == 403
    with responses.RequestsMock() as twilio:
        twilio.add(responses.POST, CALLS, status=201, json={"sid": OUTBOUND, "status": "queued"})
        reply = browser.post(f"{path}/call", data={"engineer": SF_FIRST, "csrf_token": token(page)})
        assert reply.status_code == 303 and reply.headers["Location"] == path
        # (The alert thread's texts about the missed call meet this mock too.)
        [placed] = [c for c in twilio.calls if c.request.url == CALLS]
    sent = {k: v[0] for k, v in parse_qs(placed.request.body).items()}
    steps = f"cb={callback['id']}&customer=%2B14155551234&line=%2B14155550100"
    assert sent == {"To": SF_FIRST, "From": US_LINE, "Timeout": "30",
                    "Url": f"http://localhost/voice/callback/engineer?{steps}",
                    "StatusCallback": "http://localhost/voice/status"}

    twilio_side = app.test_client()
    leg = {"CallSid": OUTBOUND, "AccountSid": TWILIO_ACCOUNT, "From": US_LINE, "To": SF_FIRST,
           "CallStatus": "in-progress", "Direction": "outbound-api"}
    whisper = twiml(twilio_post(twilio_side, sent["Url"], leg))
    gather = whisper.find("Gather")
    assert gather.find("Say").text == ("Priority Support call back for Acme Corporation, SEN 1 2 3 4 5 6 7, who "
                                       "called the United States & Canada line. Press 1 to call them now.")
    assert whisper.find("Hangup") is not None  # no key, no call: a voicemail never calls the customer
    dial = twiml(twilio_post(twilio_side, f"http://localhost{gather.get('action')}", {**leg, "Digits": "1"}))
    dial_tag = dial.find("Dial")
    number = dial_tag.find("Number")
    assert (dial_tag.get("callerId"), number.text) == (US_LINE, ACME_ADMIN)

    # A first try the customer did not pick up leaves the callback open.
    nobody = {**leg, "DialCallStatus": "no-answer", "DialCallSid": "CA" + "e" * 32, "DialCallDuration": "0"}
    assert twiml(twilio_post(twilio_side, f"http://localhost{dial_tag.get('action')}", nobody)).find("Hangup") is not None
    assert api(app.test_client(), f"/ops/api/callbacks/{callback['id']}")["state"] == "open"

    clock.now = WEEKDAY + timedelta(minutes=5, seconds=40)
    customer_leg = {"CallSid": "CA" + "d" * 32, "ParentCallSid": OUTBOUND, "AccountSid": TWILIO_ACCOUNT,
                    "From": US_LINE, "To": ACME_ADMIN, "CallStatus": "in-progress", "Direction": "outbound-dial"}
    greeting = twiml(twilio_post(twilio_side, f"http://localhost{number.get('url')}", customer_leg))
    assert [e.tag for e in greeting] == ["Say"]  # then put through
    assert greeting.find("Say").text == "This is Priority Support, returning your call. Connecting you to an engineer."

    closed = api(app.test_client(), f"/ops/api/callbacks/{callback['id']}")
    assert (closed["state"], closed["closed_how"], closed["closed_by_call"], closed["closed_at"]) == (
        "closed", "called-back", OUTBOUND, "2026-12-01T16:05:40Z")
    assert [(s["step"], s["call"], s["who"]) for s in closed["history"]] == [
        ("opened", callback["first_call"], None), ("called", OUTBOUND, "ops"), ("closed", OUTBOUND, None)]
    outbound = api(app.test_client(), f"/ops/api/calls/{OUTBOUND}")
    assert (outbound["outcome"], outbound["from"], outbound["line"], outbound["sen"]) == (
        "answered", ACME_ADMIN, US_LINE, "SEN-1234567")
    assert [e["kind"] for e in outbound["events"]] == ["started", "recognised", "outbound", "dial", "screened"]


def test_a_call_back_twilio_refuses_is_a_502_that_says_why_and_the_callback_stays_open(tmp_path, clock):
    app, callback, path = acme_missed(tmp_path, clock)
    browser = signed_in(app)
    csrf = token(browser.get(path).get_data(as_text=True))
    assert browser.post(f"{path}/call", data={"engineer": "0800 123", "csrf_token": csrf}).status_code == 400
    with responses.RequestsMock() as twilio:
        twilio.add(responses.POST, CALLS, status=400,
                   json={"code": 21210, "message": "'From' phone number not verified", "status": 400})
        reply = browser.post(f"{path}/call", data={"engineer": SF_FIRST, "csrf_token": csrf})
    assert reply.status_code == 502
    assert "Twilio refused the call to +14155550101: error 21210 (400)" in reply.get_data(as_text=True)
    assert api(app.test_client(), f"/ops/api/callbacks/{callback['id']}")["state"] == "open"


# --- the Now page and the call page ---------------------------------------------------------------


def test_the_now_page_lists_open_callbacks_first_with_due_in_then_overdue_by_in_red(tmp_path, clock):
    app, phone = service(tmp_path, clock)
    phone.call(US_LINE, ACME_ADMIN, ["1"], [])  # Acme's voicemail at 16:00: due at 17:00
    [callback] = api(app.test_client(), "/ops/api/callbacks")["callbacks"]
    browser = signed_in(app)
    clock.now = WEEKDAY + timedelta(minutes=50)
    page = page_of(browser, "/ops/")
    # The first thing under "is anything wrong?", before the missed calls and who is on duty.
    order = [e.get("id") for e in page.iter() if e.get("id") in ("wrong", "owed", "callbacks", "missed", "on-duty")]
    assert order == ["wrong", "owed", "callbacks", "missed", "on-duty"]
    assert text_of(by_id(page, "owed")) == "Callbacks owed: 1"
    assert "Nothing wrong" not in text_of(by_id(page, "wrong"))
    [row] = rows(by_id(page, "callbacks"))
    assert {k: row[k] for k in ("Due", "Customer", "SEN", "Line", "From", "Voicemail")} == {
        "Due": "due in 10 min Tue 01 Dec 17:00 UTC", "Customer": "Acme Corporation", "SEN": "SEN-1234567",
        "Line": "+1 415-555-0100", "From": "+1 415-555-1234", "Voicemail": "recording"}
    links = {a.text: a.get("href") for a in by_id(page, "callbacks").iter("a")}
    assert links == {"recording": callback["voicemail_url"], f"#{callback['id']}": f"/ops/callbacks/{callback['id']}"}

    clock.now = WEEKDAY + timedelta(minutes=65)
    page = page_of(browser, "/ops/")
    assert text_of(by_id(page, "owed")) == "Callbacks owed: 1, 1 overdue"
    [due] = by_id(page, "callbacks").find("tbody").iter("strong")
    assert (due.get("class"), due.text) == ("error", "overdue by 5 min")

    # Closed, it leaves the page.
    csrf = token(browser.get(f"/ops/callbacks/{callback['id']}").get_data(as_text=True))
    browser.post(f"/ops/callbacks/{callback['id']}/close", data={"note": "by e-mail", "csrf_token": csrf})
    page = page_of(browser, "/ops/")
    assert [e for e in page.iter() if e.get("id") in ("owed", "callbacks")] == []


def test_the_now_page_lists_the_soonest_due_and_links_to_all_when_there_are_more(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(ops, "NOW_CALLBACKS", 1)
    app, phone = service(tmp_path, clock, globex_current(tmp_path))
    phone.call(US_LINE, ACME_ADMIN, ["1"], [])  # Acme, Priority: due 17:00
    clock.now = WEEKDAY + timedelta(minutes=10)
    phone.call(US_LINE, GLOBEX_ADMIN, ["1"], [])  # Globex, Premier: due 16:40, sooner
    page = page_of(signed_in(app), "/ops/")
    assert text_of(by_id(page, "owed")) == "Callbacks owed: 2"
    [row] = rows(by_id(page, "callbacks"))
    assert (row["Customer"], row["Due"]) == ("Globex", "due in 30 min Tue 01 Dec 16:40 UTC")
    assert by_id(page, "all-callbacks").get("href") == "/ops/callbacks"


def test_a_calls_page_shows_its_callbacks_history_inline(tmp_path, clock):
    app, phone = service(tmp_path, clock)
    # (Nothing reads the call log between the calls: the writer may store all three at once.)
    for minutes, answers in ((0, []), (20, []), (40, [SF_FIRST])):  # missed, missed (joins), answered
        clock.now = WEEKDAY + timedelta(minutes=minutes)
        phone.call(US_LINE, ACME_ADMIN, ["1"], answers)
    [first, second, answered] = sorted(api(app.test_client(), "/ops/api/calls")["calls"],
                                       key=lambda c: c["started_at"])
    callback = api(app.test_client(), "/ops/api/callbacks?state=all")["callbacks"][0]
    browser = signed_in(app)
    for call in (first, second, answered):
        page = page_of(browser, f"/ops/calls/{call['sid']}")
        heading = by_id(page, f"callback-{callback['id']}")
        assert text_of(heading) == f"Callback #{callback['id']} closed"
        steps = rows(by_id(page, f"history-{callback['id']}"))
        assert [(s["At"], s["Step"], s["Call"]) for s in steps] == [
            ("Tue 01 Dec 16:00 UTC", "opened", first["sid"]), ("Tue 01 Dec 16:20 UTC", "joined", second["sid"]),
            (steps[2]["At"], "closed", answered["sid"])]


def test_the_callbacks_page_pages_on_soonest_due_first(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(callbacks_web, "PAGE_LIMIT", 1)
    app, phone = service(tmp_path, clock, globex_current(tmp_path))
    phone.call(US_LINE, ACME_ADMIN, ["1"], [])  # Acme, Priority: due 17:00
    clock.now = WEEKDAY + timedelta(minutes=10)
    phone.call(US_LINE, GLOBEX_ADMIN, ["1"], [])  # Globex, Premier: due 16:40
    browser = signed_in(app)
    first = page_of(browser, "/ops/callbacks")
    assert [row["Customer"] for row in rows(by_id(first, "callbacks"))] == ["Globex"]
    second = page_of(browser, by_id(first, "more").get("href"))
    assert [row["Customer"] for row in rows(by_id(second, "callbacks"))] == ["Acme Corporation"]
    assert [e for e in second.iter() if e.get("id") == "more"] == []
    assert browser.get("/ops/callbacks?after=x").status_code == 400
    # The API pages on the same way, with `next`.
    client = app.test_client()
    first = api(client, "/ops/api/callbacks?limit=1")
    assert [c["customer"] for c in first["callbacks"]] == ["Globex"]
    second = api(client, first["next"])
    assert ([c["customer"] for c in second["callbacks"]], second["next"]) == (["Acme Corporation"], None)
    assert client.get("/ops/api/callbacks?after=999", headers=basic()).status_code == 404
