"""Half-open interval arithmetic: the basis of exact coverage."""

import itertools

from hypothesis import given
from hypothesis import strategies as st

from ivr.engine.intervals import clip, complement, subtract, union


def test_union_sorts_merges_overlapping_and_touching_and_drops_empty():
    assert union([(5, 7), (0, 2), (2, 3), (6, 9), (4, 4)]) == [(0, 3), (5, 9)]


def test_subtract_cuts_holes_out_of_intervals():
    assert subtract([(0, 10), (20, 30)], [(2, 4), (8, 22), (29, 40)]) == [(0, 2), (4, 8), (22, 29)]


def test_clip_keeps_only_the_parts_inside_the_range():
    assert clip([(0, 5), (8, 12), (15, 20)], 3, 16) == [(3, 5), (8, 12), (15, 16)]


def test_complement_is_what_the_intervals_leave_uncovered():
    assert complement([(2, 4), (6, 8)], 0, 10) == [(0, 2), (4, 6), (8, 10)]
    assert complement([(0, 10)], 0, 10) == []
    assert complement([], 5, 5) == []


intervals = st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100)).map(sorted).map(tuple), max_size=12)


def covered(pieces, point):
    return any(start <= point < end for start, end in pieces)


@given(intervals, intervals)
def test_the_arithmetic_agrees_with_pointwise_membership(a, b):
    merged_a, merged_b = union(a), union(b)
    difference = subtract(merged_a, merged_b)
    gaps = complement(merged_a, 0, 100)
    for point in range(101):
        assert covered(merged_a, point) == covered(a, point)
        assert covered(difference, point) == (covered(a, point) and not covered(b, point))
        assert covered(gaps, point) == (point < 100 and not covered(a, point))
    for result in (merged_a, difference, gaps):
        # Maximal: sorted, with no two pieces touching or overlapping.
        assert all(end < next_start for (_, end), (next_start, _) in itertools.pairwise(result))
