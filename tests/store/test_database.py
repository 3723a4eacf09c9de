"""The call log's JSON reads back exactly what `json.loads` reads: the fast reader (orjson) never
turns a number into another one."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from ivr.engine.events import Status
from ivr.store.database import loads

# Whatever a stored event's data may hold: any whole number (beyond 64 bits too), any float (inf and
# nan too, which json.dumps writes), any text (lone surrogates too), nested.
_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**70, max_value=2**70)
            | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -2**63, -2**63 - 1, 10**18, -10**18])
            | st.floats() | st.text(st.characters(codec=None, exclude_categories=())))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=12)


@given(_VALUES, st.booleans())
def test_the_call_logs_json_reads_as_json_loads_reads_it(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    # repr tells 1 from 1.0 and from True, and shows nan, -0.0 and key order.
    assert repr(loads(text)) == repr(json.loads(text))
    try:
        raw = text.encode()  # PostgreSQL's driver hands over bytes
    except UnicodeEncodeError:  # a lone surrogate, which UTF-8 cannot hold
        return
    assert repr(loads(raw)) == repr(json.loads(raw))


def test_a_number_beyond_64_bits_comes_back_whole_from_either_database(store):
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    for n, duration in enumerate([10**30, -2**63 - 1, 2**64, 2**64 - 1]):
        store.record(f"CA{n}", Status(call_status="completed", duration=duration), at)
        [event] = store.stored_timelines([f"CA{n}"])[f"CA{n}"]
        assert event.data["duration"] == duration and type(event.data["duration"]) is int
