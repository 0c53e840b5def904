"""RFC 9162 Merkle tree math over a store of perfect nodes, so proofs cost O(log n) reads.

The log is an RFC 9162 (§2.1) tree: a leaf hash is SHA-256(0x00 || data), an interior node is
SHA-256(0x01 || left || right), and the tree over n leaves splits at the largest power of two
below n. A *perfect node* `(level, index)` is the hash of the complete subtree over leaves
`[index * 2**level, (index + 1) * 2**level)`; level 0 holds the leaf hashes. Perfect nodes never
change once complete, so a store filled by `CompactRange.append` for a tree of size N answers
every question about every size up to N.

Every hash below at level 0, including the `leaf` argument of `verify_inclusion` and
`CompactRange.append`, is a *leaf hash* (the output of `leaf_hash`), never the raw event bytes:
a voter's receipt carries the leaf hash, and a verifier never needs the event itself.

The readers (`root`, `inclusion_proof`, `consistency_proof`) first work out which perfect nodes
they need (at most about two per level), fetch them in one `NodeReader.nodes` call, then hash.
The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step and answer False, never raise,
on anything malformed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}): the root of the empty tree."""

Key = tuple[int, int]
"""A perfect node: (level, index)."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the domain byte keeps a leaf from posing as a node."""
    return hashlib.sha256(b"\x00" + data).digest()


def leaf_hashes(datas: Iterable[bytes]) -> list[bytes]:
    """`leaf_hash` of each, in one loop (a replay hashes every event of the log)."""
    sha = hashlib.sha256
    return [sha(b"\x00" + data).digest() for data in datas]


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def subtree_nodes(start: int, leaves: Sequence[bytes]) -> dict[Key, bytes]:
    """Every perfect node over `leaves` (leaf hashes of indexes `start`, `start + 1`, ...), leaves
    included; `start` must be aligned to the largest power of two not above `len(leaves)`.
    This is how a chunk of packed leaves gives back the nodes below the chunk level."""
    width = len(leaves)
    if width and start % (1 << (width.bit_length() - 1)):
        raise ValueError(f"{width} leaves from {start} are not aligned to a subtree")
    found: dict[Key, bytes] = {}
    level, row = 0, list(leaves)
    while row:
        first = start >> level
        for i, digest in enumerate(row):
            found[level, first + i] = digest
        row = _parents(row)
        level += 1
    return found


def _perfect_root(leaves: Sequence[bytes]) -> bytes:
    """MTH of a power-of-two number of leaf hashes, level by level."""
    row = list(leaves)
    while len(row) > 1:
        row = _parents(row)
    return row[0]


def _parents(row: Sequence[bytes]) -> list[bytes]:
    """The nodes one level up from `row` (a trailing odd node has no parent yet)."""
    sha = hashlib.sha256
    return [sha(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)]


class NodeReader(Protocol):
    def nodes(self, keys: Collection[Key]) -> Mapping[Key, bytes]:
        """The requested perfect nodes, in one round trip; absent keys may be left out."""
        ...


class MissingNodeError(KeyError):
    """The store lacks a perfect node the tree size needs: it is behind the size asked for."""


# -- which perfect nodes a question needs ---------------------------------------------------------


def _split(size: int) -> int:
    """The largest power of two strictly below `size` (size >= 2): RFC 9162's k."""
    return 1 << ((size - 1).bit_length() - 1)


def _range_keys(start: int, end: int) -> list[Key]:
    """The perfect nodes covering `[start, end)`, largest first. Only valid for the ranges the
    RFC recursion produces, whose start is aligned to every piece of the decomposition."""
    keys: list[Key] = []
    pos, width = start, end - start
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            assert pos % (1 << level) == 0, f"[{start}, {end}) is not a subtree of the log"
            keys.append((level, pos >> level))
            pos += 1 << level
    return keys


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees whose MTH make PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf side first."""
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The subtrees whose MTH make PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1), in order."""
    ranges: list[tuple[int, int]] = []
    start, end, whole = 0, second, True
    while first != end:
        k = _split(end - start)
        if first <= start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            whole = False
    if not whole:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def _hash_ranges(ranges: Sequence[tuple[int, int]], reader: NodeReader) -> list[bytes]:
    """MTH of each range, from one `nodes` call."""
    wanted = [_range_keys(start, end) for start, end in ranges]
    needed = {key for keys in wanted for key in keys}
    found = reader.nodes(needed)
    missing = sorted(needed - found.keys())
    if missing:
        raise MissingNodeError(f"node store lacks perfect nodes {missing[:4]}")
    return [_fold([found[key] for key in keys]) for keys in wanted]


def _fold(peaks: Sequence[bytes]) -> bytes:
    """The MTH of a range from its perfect nodes, largest first: the smaller ones nest right."""
    acc = peaks[-1]
    for peak in reversed(peaks[:-1]):
        acc = node_hash(peak, acc)
    return acc


# -- readers --------------------------------------------------------------------------------------


def root(size: int, reader: NodeReader) -> bytes:
    """MTH(D[0:size]) from the peaks of `size`."""
    if size < 0:
        raise ValueError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    return _hash_ranges([(0, size)], reader)[0]


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1: the audit path from leaf to root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of size {size}")
    return _hash_ranges(_inclusion_ranges(index, size), reader)


def inclusion_proofs(indexes: Sequence[int], size: int, reader: NodeReader) -> list[list[bytes]]:
    """`inclusion_proof` of each of `indexes`, from ONE `nodes` call: proofs of one tree share
    their upper nodes, and a store read per proof was most of a page of score-proof leaves."""
    per_leaf = []
    for index in indexes:
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} outside a tree of size {size}")
        per_leaf.append(_inclusion_ranges(index, size))
    hashes = iter(_hash_ranges([r for ranges in per_leaf for r in ranges], reader))
    return [[next(hashes) for _ in ranges] for ranges in per_leaf]


def consistency_proof(first: int, second: int, reader: NodeReader) -> list[bytes]:
    """PROOF(first, D[0:second]) of RFC 9162 §2.1.4.1: the tree of size `first` is a prefix."""
    if not 0 < first <= second:
        raise ValueError(f"need 0 < first <= second, got first={first} second={second}")
    return _hash_ranges(_consistency_ranges(first, second), reader)


# -- verifiers ------------------------------------------------------------------------------------


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_proof(value: object) -> bool:
    """A list or tuple of hashes (a receipt's JSON may hold anything, None included)."""
    return isinstance(value, list | tuple) and all(_is_hash(p) for p in value)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` show leaf hash `leaf` at `index` in the tree `root`?"""
    if not (_is_hash(leaf) and _is_hash(root) and _is_proof(proof)):
        return False
    if not (isinstance(index, int) and isinstance(size, int)):
        return False
    # 1. leaf_index must be below tree_size.
    if not 0 <= index < size:
        return False
    # 2.-3.
    fn, sn, r = index, size - 1, leaf
    # 4.
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:  # ii. only runs when LSB(fn) is not set
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # 5.
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does `proof` show the tree `first_root` is a prefix of `second_root`?

    The RFC algorithm covers 0 < first < second; equal sizes are consistent exactly when the
    roots are equal and the proof is empty (as in transparency-dev/merkle, whose published
    vectors check equality only, whatever the length of the two roots)."""
    if not (isinstance(first, int) and isinstance(second, int) and _is_proof(proof)):
        return False
    if not (isinstance(first_root, bytes) and isinstance(second_root, bytes)):
        return False  # equal sizes compare the roots: None == None is no proof of anything
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not (_is_hash(first_root) and _is_hash(second_root)):
        return False
    # 1.
    if not proof:
        return False
    path = list(proof)
    # 2.
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    # 3.
    fn, sn = first - 1, second - 1
    # 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:  # ii. only runs when LSB(fn) is not set
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    return fr == first_root and sr == second_root and sn == 0


# -- appending ------------------------------------------------------------------------------------


class CompactRange:
    """The right edge of a growing tree: one perfect node per set bit of its size.

    Appending is O(log n) in time and memory, and returns the perfect nodes it completed so that
    the caller can store them; a store so filled is what the readers above need. To resume from
    a store, load `peak_keys(size)` (or call `resume`)."""

    def __init__(self, size: int = 0, peaks: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError(f"tree size {size} is negative")
        if len(peaks) != size.bit_count():
            raise ValueError(
                f"a tree of size {size} has {size.bit_count()} peaks, not {len(peaks)}"
            )
        if not all(_is_hash(p) for p in peaks):
            raise ValueError(f"peaks must be {HASH_SIZE}-byte hashes")
        self._size = size
        self._peaks = list(peaks)

    @classmethod
    def peak_keys(cls, size: int) -> list[Key]:
        """The perfect nodes of the binary decomposition of `size`, largest first."""
        if size < 0:
            raise ValueError(f"tree size {size} is negative")
        return _range_keys(0, size)

    @classmethod
    def resume(cls, size: int, reader: NodeReader) -> CompactRange:
        """The range of a stored tree of `size` leaves, read in one `nodes` call."""
        keys = cls.peak_keys(size)
        found = reader.nodes(keys)
        missing = [key for key in keys if key not in found]
        if missing:
            raise MissingNodeError(f"node store lacks peaks {missing}")
        return cls(size, [found[key] for key in keys])

    @property
    def size(self) -> int:
        return self._size

    @property
    def peaks(self) -> list[bytes]:
        return list(self._peaks)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the completed perfect nodes, the leaf itself first."""
        if not _is_hash(leaf):
            raise ValueError(f"append takes a {HASH_SIZE}-byte leaf hash (see leaf_hash)")
        completed = [(0, self._size, leaf)]
        level, index, acc = 0, self._size, leaf
        while index & 1:
            acc = node_hash(self._peaks.pop(), acc)
            level, index = level + 1, index >> 1
            completed.append((level, index, acc))
        self._peaks.append(acc)
        self._size += 1
        return completed

    def extend(
        self, leaves: Sequence[bytes], *, keep_from: int = 0
    ) -> list[tuple[int, int, bytes]]:
        """`append` each leaf hash in turn, but return only the completed nodes at level
        `keep_from` or above (a chunked store keeps the ones below packed, see ChunkedNodes).
        Whole aligned runs of 2**keep_from leaves are hashed level by level, which is what
        makes a bulk load cheap; the result is the same as appending one by one."""
        if set(map(type, leaves)) - {bytes} or set(map(len, leaves)) - {HASH_SIZE}:
            raise ValueError(f"extend takes {HASH_SIZE}-byte leaf hashes (see leaf_hash)")
        span, kept, i, n = 1 << keep_from, [], 0, len(leaves)
        while i < n:
            if self._size % span == 0 and n - i >= span:
                kept += self._push(keep_from, _perfect_root(leaves[i : i + span]))
                i += span
            else:
                kept += [node for node in self.append(leaves[i]) if node[0] >= keep_from]
                i += 1
        return kept

    def _push(self, level: int, digest: bytes) -> list[tuple[int, int, bytes]]:
        """Add a perfect subtree of 2**level leaves at a size aligned to it."""
        index = self._size >> level
        completed, acc = [(level, index, digest)], digest
        self._size += 1 << level
        while index & 1:
            acc = node_hash(self._peaks.pop(), acc)
            level, index = level + 1, index >> 1
            completed.append((level, index, acc))
        self._peaks.append(acc)
        return completed

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        return _fold(self._peaks) if self._peaks else EMPTY_ROOT


class ChunkedNodes:
    """A `NodeReader` over a chunked store: leaf hashes packed 2**level to a chunk (chunk c holds
    leaves c * 2**level onwards; the last one may be partial), and perfect nodes only at `level`
    and above, as `CompactRange.extend(..., keep_from=level)` hands them out. A node below the
    chunk level is recomputed from its chunk's leaves (fewer than 2**level hashes), so the store
    writes one row per chunk instead of one per leaf and per node."""

    def __init__(
        self,
        level: int,
        upper: Callable[[Collection[Key]], Mapping[Key, bytes]],
        chunks: Callable[[Collection[int]], Mapping[int, Sequence[bytes]]],
    ) -> None:
        self.level = level
        self._upper = upper
        self._chunks = chunks

    def nodes(self, keys: Collection[Key]) -> Mapping[Key, bytes]:
        level = self.level
        high = [key for key in keys if key[0] >= level]
        low = [key for key in keys if key[0] < level]
        found = dict(self._upper(high)) if high else {}
        if low:
            wanted = {index >> (level - lv) for lv, index in low}
            computed: dict[Key, bytes] = {}
            for chunk, leaves in self._chunks(wanted).items():
                computed.update(subtree_nodes(chunk << level, leaves))
            found.update((key, computed[key]) for key in low if key in computed)
        return found


class MemoryNodes:
    """A `NodeReader` over a dict, for tests and small logs."""

    def __init__(self) -> None:
        self._nodes: dict[Key, bytes] = {}

    @classmethod
    def of(cls, leaves: Iterable[bytes]) -> MemoryNodes:
        """Every perfect node of the tree over these leaf hashes."""
        store, tree = cls(), CompactRange()
        for leaf in leaves:
            store.store(tree.append(leaf))
        return store

    def store(self, completed: Iterable[tuple[int, int, bytes]]) -> None:
        """Keep what `CompactRange.append` returned."""
        for level, index, digest in completed:
            self._nodes[level, index] = digest

    def nodes(self, keys: Collection[Key]) -> Mapping[Key, bytes]:
        return {key: self._nodes[key] for key in keys if key in self._nodes}

    def __len__(self) -> int:
        return len(self._nodes)
