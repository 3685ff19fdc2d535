"""The numpy hash table behind the sentiment model's feature lookup."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btcpulse.analytics.hash_index import HashIndex, combine

keys64 = st.integers(min_value=1, max_value=2**64 - 1)


@settings(max_examples=200, deadline=None)
@given(
    table=st.dictionaries(keys64, st.integers(min_value=0, max_value=2**40), max_size=300),
    probes=st.lists(keys64, max_size=300),
)
def test_lookup_equals_a_dict(table: dict[int, int], probes: list[int]) -> None:
    idx = HashIndex(
        np.array(list(table), dtype=np.uint64), np.array(list(table.values())), default=-7
    )
    assert len(idx) == len(table)
    asked = [*table, *probes]
    got = idx.lookup(np.array(asked, dtype=np.uint64)).tolist()
    assert got == [table.get(k, -7) for k in asked]


def test_many_keys_found_and_their_neighbours_not() -> None:
    keys = np.arange(1, 5001, dtype=np.uint64) << np.uint64(40)
    idx = HashIndex(keys, np.arange(5000), default=-1)
    assert idx.lookup(keys).tolist() == list(range(5000))
    absent = keys + np.uint64(1)
    assert (idx.lookup(absent) == -1).all()
    assert idx.lookup(np.array([], dtype=np.uint64)).tolist() == []


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="distinct"):
        HashIndex(np.array([3, 3], dtype=np.uint64), np.array([1, 2]), default=0)
    with pytest.raises(ValueError, match="reserved"):
        HashIndex(np.array([0], dtype=np.uint64), np.array([1]), default=0)
    with pytest.raises(ValueError, match="length"):
        HashIndex(np.array([1], dtype=np.uint64), np.array([1, 2]), default=0)


def test_combine_is_order_sensitive_and_broadcasts() -> None:
    a = np.array([1, 2, 3], dtype=np.uint64)
    b = np.array([3, 2, 1], dtype=np.uint64)
    ab, ba = combine(7, a, b), combine(7, b, a)
    assert ab.shape == (3,)
    assert ab[1] == ba[1] and ab[0] != ba[0]
    assert combine(1, a, b)[0] != combine(2, a, b)[0]
