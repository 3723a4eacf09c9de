"""The public numbers page and its JSON: no password, every published number, and nothing internal."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLE, make_app, phonebook_from
from pages import parse_html, text_of
from phonebooks import toml_table, toml_team

from ivr.engine.phonebook_loader import load_phonebook
from ivr.engine.published import ByPhone, published
from ivr.web.services import services_of


@pytest.fixture
def public(tmp_path):
    app = make_app(tmp_path)
    yield app.test_client()
    services_of(app).calllog.close()


def internal_details(phonebook_path=SAMPLE) -> set[str]:
    """Everything about the phonebook a customer must never read on the public page."""
    phonebook = load_phonebook(phonebook_path)
    found = set()
    for team in phonebook.teams:
        found |= {team.name, team.spoken_name, *team.dial}
        if team.label:
            found.add(team.label)
    assert phonebook.fallback is not None
    found |= {phonebook.fallback.label, *phonebook.fallback.dial}
    for customer in phonebook.customers:
        found |= {customer.name, customer.sen, customer.sen_digits, *customer.admins}
    found |= {*phonebook.alerts.sms, phonebook.alerts.webhook or ""}
    return found - {""}


def test_the_numbers_page_needs_no_password_and_lists_each_number_with_its_region(public):
    reply = public.get("/numbers")
    assert reply.status_code == 200 and reply.mimetype == "text/html"
    page = parse_html(reply.get_data(as_text=True))
    items = [(text_of(li.find("span")), li.find("a").get("href"), text_of(li.find("a")))
             for li in page.iter("li") if li.find("a") is not None and li.find("a").get("class") == "tel"]
    assert items == [
        ("United States & Canada", "tel:+14155550100", "+1 415-555-0100"),
        ("United Kingdom", "tel:+442079460100", "+44 20 7946 0100"),
        ("Netherlands", "tel:+31205550100", "+31 20 555 0100"),
        ("Australia", "tel:+61255501000", "+61 2 5550 1000"),
    ]
    ready = text_of(next(e for e in page.iter("section") if e.get("id") == "have-ready"))
    assert "support entitlement number (SEN)" in ready and "1 means production is down" in ready
    assert "https://support.example.com" in ready
    assert "severity 1 (around the clock)" in text_of(next(e for e in page.iter("section") if e.get("id") == "numbers"))


def test_the_numbers_json_lists_the_same(public):
    reply = public.get("/numbers.json")
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "public, max-age=60"
    data = reply.get_json()
    assert data["numbers"][0] == {"number": "+14155550100", "region": "amer", "label": "United States & Canada"}
    assert [n["number"] for n in data["numbers"]] == ["+14155550100", "+442079460100", "+31205550100", "+61255501000"]
    assert data["by_phone"] == [{"severity": 1, "when": "around the clock"}]
    assert data["portal"] == "https://support.example.com" and len(data["have_ready"]) == 3


@pytest.mark.parametrize("path", ["/numbers", "/numbers.json"])
def test_nothing_internal_leaks(public, path):
    text = public.get(path).get_data(as_text=True)
    if path.endswith(".json"):
        text = json.dumps(json.loads(text), ensure_ascii=False)
    leaked = sorted(detail for detail in internal_details() if detail in text)
    assert leaked == []
    # Nor any engineer's number however it is written.
    assert "555 0101" not in text and "555-0101" not in text and "550101" not in text


def test_a_business_week_severity_says_when():
    phonebook = phonebook_from(toml_table("severity", **{"1": "always", "2": "business-week"})
                               + toml_team("desk", "priority", ["24/7"], ["+14155550120"]))
    assert published(phonebook).by_phone == (
        ByPhone(1, "around the clock"), ByPhone(2, "in the business week, not at weekends"))


def test_the_ops_console_keeps_its_own_numbers_page_with_the_teams(public, ops_auth):
    page = public.get("/ops/numbers", headers=ops_auth).get_data(as_text=True)
    # The internal page shows what the public one must not (so the leak test above can fail): the
    # team a call reaches now, whichever it is.
    assert any(detail in page for detail in internal_details()) and 'href="/numbers"' in page
    assert public.get("/ops/numbers").status_code == 302
