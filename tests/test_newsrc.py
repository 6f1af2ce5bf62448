"""The read-range arithmetic of server/newsrc.py against a plain set of
numbers as the model: every operation agrees with the set, every result is
canonical, and text goes round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moot.people import newsrc
from moot.store.errors import Invalid, TooLarge

numbers = st.sets(st.integers(min_value=1, max_value=300), max_size=120)
span = st.tuples(st.integers(min_value=1, max_value=320), st.integers(min_value=0, max_value=40))


def as_set(ranges: newsrc.Ranges) -> set[int]:
    return {n for low, high in ranges for n in range(low, high + 1)}


def canonical(ranges: newsrc.Ranges) -> bool:
    return all(low <= high for low, high in ranges) and all(
        a[1] + 1 < b[0] for a, b in zip(ranges, ranges[1:], strict=False)
    )


@given(numbers)
def test_of_numbers_holds_exactly_those_numbers_in_canonical_form(values):
    ranges = newsrc.of_numbers(values)
    assert as_set(ranges) == values and canonical(ranges)
    assert newsrc.size(ranges) == len(values)


@given(numbers)
def test_text_goes_round_trip(values):
    ranges = newsrc.of_numbers(values)
    text = newsrc.format(ranges)
    assert newsrc.parse(text) == ranges
    assert newsrc.parse(" " + text.replace(",", " , ") + " ") == ranges  # spaces as tin may write them


@given(numbers, numbers)
def test_union_and_difference_agree_with_sets(a, b):
    ra, rb = newsrc.of_numbers(a), newsrc.of_numbers(b)
    assert as_set(newsrc.union(ra, rb)) == a | b and canonical(newsrc.union(ra, rb))
    assert as_set(newsrc.difference(ra, rb)) == a - b and canonical(newsrc.difference(ra, rb))


@given(numbers, span)
def test_add_remove_contains_and_gaps_agree_with_sets(values, lo_len):
    low, length = lo_len
    high = low + length
    ranges = newsrc.of_numbers(values)
    interval = set(range(low, high + 1))
    assert as_set(newsrc.add(ranges, low, high)) == values | interval
    assert as_set(newsrc.remove(ranges, low, high)) == values - interval
    assert as_set(newsrc.gaps(ranges, low, high)) == interval - values
    assert canonical(newsrc.remove(ranges, low, high)) and canonical(newsrc.gaps(ranges, low, high))
    for n in range(0, 330):
        assert newsrc.contains(ranges, n) == (n in values)
    assert as_set(newsrc.clip(ranges, low)) == {n for n in values if n <= low}


@given(st.lists(st.tuples(st.integers(1, 200), st.integers(1, 200)), max_size=30))
def test_normalise_merges_overlapping_and_touching_pairs(pairs):
    ranges = newsrc.normalise(pairs)
    expected = {n for low, high in pairs for n in range(low, high + 1)}
    assert as_set(ranges) == expected and canonical(ranges)


def test_parse_reads_newsrc_lines_and_refuses_anything_else():
    assert newsrc.parse("1-1048,1050-1060") == ((1, 1048), (1050, 1060))
    assert newsrc.parse("5,3,4,9-8") == ((3, 5),)  # unsorted and touching merge; a reversed range is empty
    assert newsrc.parse("") == () and newsrc.format(()) == ""
    assert newsrc.format(((1, 1), (3, 7))) == "1,3-7"
    for bad in ("1-", "a", "1--2", "-3", "1,,2", "٣", "1-99999999999999999999", "1;2"):
        with pytest.raises(Invalid):
            newsrc.parse(bad)
    with pytest.raises(Invalid):
        newsrc.parse(["1-2"])
    with pytest.raises(TooLarge):
        newsrc.parse(",".join(str(n * 2) for n in range(newsrc.MAX_RANGES + 1)))
    with pytest.raises(TooLarge):
        newsrc.parse("1" * (newsrc.MAX_LINE + 1))
