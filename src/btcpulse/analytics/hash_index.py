"""A read-only hash table from 64-bit keys to row numbers, looked up a whole array at a time.

The sentiment model keys its features (words, word pairs) by 64-bit hashes of their text and
needs to look up a few hundred thousand keys per batch. A Python dict costs a call per key;
a polars join rebuilds its hash table on every call. This table is built once (open
addressing, linear probing, at most half full) and probed with numpy, so a batch of keys
costs a few vectorised passes over the arrays. Pure: no I/O.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xC2B2AE3D27D4EB4F)
_MIX3 = np.uint64(0x165667B19E3779F9)
_EMPTY = np.uint64(0)


def combine(*parts: np.ndarray | int) -> np.ndarray:
    """One 64-bit key from several 64-bit values (arrays broadcast), order-sensitive.

    Multiplication wraps modulo 2**64, as wanted for hashing."""
    key = np.zeros(1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for part in parts:
            p = np.asarray(part, dtype=np.uint64)
            key = (key ^ p) * _MIX2
            key ^= key >> np.uint64(29)
            key = key * _MIX3
    return key


class HashIndex:
    """Maps distinct non-zero uint64 keys to int64 values; unknown keys give ``default``."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, default: int) -> None:
        keys = np.asarray(keys, dtype=np.uint64)
        values = np.asarray(values, dtype=np.int64)
        if keys.shape != values.shape:
            raise ValueError("keys and values differ in length")
        if len(np.unique(keys)) != len(keys):
            raise ValueError("keys are not distinct")
        if np.any(keys == _EMPTY):
            raise ValueError("key 0 is reserved for empty slots")
        bits = max(4, int(2 * max(1, len(keys)) - 1).bit_length())
        self._shift = np.uint64(64 - bits)
        self._mask = np.int64((1 << bits) - 1)
        self._keys = np.zeros(1 << bits, dtype=np.uint64)
        self._values = np.full(1 << bits, default, dtype=np.int64)
        self.default = default
        # Insert in rounds: every pending key tries its current slot; where several want the
        # same free slot, the first wins; the others (and those finding it taken) move on.
        pending = np.arange(len(keys))
        slot = self._home(keys)
        while len(pending):
            s = slot[pending]
            free = self._keys[s] == _EMPTY
            _, first = np.unique(s, return_index=True)
            win = np.zeros(len(pending), dtype=bool)
            win[first] = True
            win &= free
            self._keys[s[win]] = keys[pending[win]]
            self._values[s[win]] = values[pending[win]]
            slot[pending[~win]] = (s[~win] + 1) & self._mask
            pending = pending[~win]

    def _home(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            out: np.ndarray = ((keys * _GOLDEN) >> self._shift).astype(np.int64)
        return out

    def __len__(self) -> int:
        return int(np.count_nonzero(self._keys))

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The value of every key (``default`` where the key is not in the table)."""
        keys = np.asarray(keys, dtype=np.uint64)
        out = np.full(keys.shape, self.default, dtype=np.int64)
        todo = np.arange(keys.size)
        slot = self._home(keys)
        while len(todo):
            s = slot[todo]
            found = self._keys[s]
            hit = found == keys[todo]
            out[todo[hit]] = self._values[s[hit]]
            go_on = ~hit & (found != _EMPTY)  # an empty slot ends the probe: not present
            todo = todo[go_on]
            slot[todo] = (s[go_on] + 1) & self._mask
        return out
