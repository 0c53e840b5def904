"""The Merkle tree math against the published RFC 6962 / 9162 vectors of transparency-dev/merkle
(tests/data/merkle_vectors.json says where each value comes from), and against the RFC's own
recursive definitions for random trees of up to 300 leaves."""

from __future__ import annotations

import base64
from collections.abc import Collection, Mapping, Sequence
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.audit.merkle import (
    EMPTY_ROOT,
    ChunkedNodes,
    CompactRange,
    Key,
    MemoryNodes,
    MissingNodeError,
    consistency_proof,
    inclusion_proof,
    inclusion_proofs,
    leaf_hash,
    leaf_hashes,
    node_hash,
    root,
    subtree_nodes,
    verify_consistency,
    verify_inclusion,
)
from tests.strategies import MAX_TREE, consistency_pairs, inclusion_targets, leaf_data, tree_sizes
from tests.vectors import MERKLE

VECTORS = MERKLE
H = bytes.fromhex


def b64(value: str) -> bytes:
    return base64.b64decode(value)


# -- the RFC 9162 definitions, written as recursively as the RFC writes them ----------------------


def _k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of §2.1.1 over leaf hashes."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1."""
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of §2.1.4.1."""
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = _k(len(leaves))
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


# One tree of distinct leaves serves every size below MAX_TREE: perfect nodes never change.
LEAVES = [leaf_hash(i.to_bytes(2, "big")) for i in range(MAX_TREE)]
STORE = MemoryNodes.of(LEAVES)


@cache
def true_root(size: int) -> bytes:
    return mth(LEAVES[:size])


class CountingReader:
    """A NodeReader that records every call, to show the readers stay O(log n)."""

    def __init__(self, inner: MemoryNodes) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def nodes(self, keys: Collection[Key]) -> Mapping[Key, bytes]:
        self.calls.append(len(keys))
        return self.inner.nodes(keys)


def flip(value: bytes, bit: int) -> bytes:
    """`value` with one bit inverted."""
    out = bytearray(value)
    out[bit // 8 % len(out)] ^= 1 << bit % 8
    return bytes(out)


# -- published vectors ----------------------------------------------------------------------------

PUBLISHED_LEAVES = [leaf_hash(H(data)) for data in VECTORS["leaf_inputs"]]
PUBLISHED_STORE = MemoryNodes.of(PUBLISHED_LEAVES)


def test_leaf_hashes_are_the_published_level_zero() -> None:
    """leaf_hash of each published leaf input, one by one or in one loop, is the published
    level-0 node."""
    inputs = [H(data) for data in VECTORS["leaf_inputs"]]
    assert [leaf_hash(data).hex() for data in inputs] == VECTORS["node_hashes"][0]
    assert [h.hex() for h in leaf_hashes(inputs)] == VECTORS["node_hashes"][0]
    assert [h.hex() for h in PUBLISHED_LEAVES] == VECTORS["node_hashes"][0]


def test_empty_root_is_the_published_one() -> None:
    """The empty tree's root is SHA-256 of nothing, as published."""
    assert EMPTY_ROOT.hex() == VECTORS["roots"][0]
    assert root(0, PUBLISHED_STORE) == EMPTY_ROOT == CompactRange().root()


def test_compact_range_completes_exactly_the_published_nodes() -> None:
    """Appending the 8 leaves yields every published node once, and the published peaks and
    roots after each append."""
    tree, completed = CompactRange(), []
    for n, leaf in enumerate(PUBLISHED_LEAVES, start=1):
        completed += tree.append(leaf)
        keys = [tuple(key) for key in VECTORS["compact_trees"][n]]
        assert CompactRange.peak_keys(n) == keys
        assert [p.hex() for p in tree.peaks] == [VECTORS["node_hashes"][lv][i] for lv, i in keys]
        assert tree.root().hex() == VECTORS["roots"][n]
    published = {
        (level, index): digest
        for level, hashes in enumerate(VECTORS["node_hashes"])
        for index, digest in enumerate(hashes)
    }
    assert {(lv, i): h.hex() for lv, i, h in completed} == published
    assert len(completed) == len(published)


@pytest.mark.parametrize("size", range(1, 9))
def test_root_is_the_published_root(size: int) -> None:
    """root(n) over the stored nodes is the published root of the first n leaves."""
    assert root(size, PUBLISHED_STORE).hex() == VECTORS["roots"][size]


@pytest.mark.parametrize(
    "vector", VECTORS["inclusion_proofs"], ids=lambda v: f"{v['leaf_index']}@{v['tree_size']}"
)
def test_published_inclusion_proof(vector: dict[str, Any]) -> None:
    """inclusion_proof gives the published path, and verify_inclusion accepts it."""
    index, size, proof = vector["leaf_index"], vector["tree_size"], [H(p) for p in vector["proof"]]
    assert inclusion_proof(index, size, PUBLISHED_STORE) == proof
    published_root = H(VECTORS["roots"][size])
    assert verify_inclusion(PUBLISHED_LEAVES[index], index, size, proof, published_root)


@pytest.mark.parametrize(
    "vector", VECTORS["consistency_proofs"], ids=lambda v: f"{v['first']}-{v['second']}"
)
def test_published_consistency_proof(vector: dict[str, Any]) -> None:
    """consistency_proof gives the published proof, and verify_consistency accepts it."""
    first, second, proof = vector["first"], vector["second"], [H(p) for p in vector["proof"]]
    assert consistency_proof(first, second, PUBLISHED_STORE) == proof
    roots = H(VECTORS["roots"][first]), H(VECTORS["roots"][second])
    assert verify_consistency(first, second, *roots, proof)


@pytest.mark.parametrize("probe", VECTORS["inclusion_probes"], ids=lambda p: p["file"])
def test_published_inclusion_probe(probe: dict[str, Any]) -> None:
    """verify_inclusion accepts the published happy paths and rejects each published corruption."""
    proof = [b64(p) for p in probe["proof"] or ()]
    ok = verify_inclusion(
        b64(probe["leafHash"]), probe["leafIdx"], probe["treeSize"], proof, b64(probe["root"])
    )
    assert ok is not probe["wantErr"], probe["desc"]


@pytest.mark.parametrize("probe", VECTORS["consistency_probes"], ids=lambda p: p["file"])
def test_published_consistency_probe(probe: dict[str, Any]) -> None:
    """verify_consistency accepts the published happy paths, rejects each published corruption."""
    proof = [b64(p) for p in probe["proof"] or ()]
    ok = verify_consistency(
        probe["size1"], probe["size2"], b64(probe["root1"]), b64(probe["root2"]), proof
    )
    assert ok is not probe["wantErr"], probe["desc"]


# -- random trees against the RFC definitions ---------------------------------------------------


@given(tree_sizes)
def test_root_is_the_recursive_mth(size: int) -> None:
    """root(n) from the peaks equals the recursive MTH of the first n leaves."""
    assert root(size, STORE) == true_root(size)


@given(inclusion_targets)
def test_every_inclusion_proof_is_the_rfc_path_and_verifies(target: tuple[int, int]) -> None:
    """inclusion_proof equals the recursive PATH, and verify_inclusion accepts it."""
    index, size = target
    proof = inclusion_proof(index, size, STORE)
    assert proof == path(index, LEAVES[:size])
    assert verify_inclusion(LEAVES[index], index, size, proof, true_root(size))


@given(
    tree_sizes.filter(bool).flatmap(
        lambda n: st.tuples(st.lists(st.integers(0, n - 1)), st.just(n))
    )
)
def test_proofs_of_many_leaves_at_once_are_each_leafs_proof(target: tuple[list[int], int]) -> None:
    """inclusion_proofs (one store read for all) equals inclusion_proof of each index, in order."""
    indexes, size = target
    assert inclusion_proofs(indexes, size, STORE) == [
        inclusion_proof(i, size, STORE) for i in indexes
    ]
    with pytest.raises(ValueError, match="outside"):
        inclusion_proofs([*indexes, size], size, STORE)


@given(consistency_pairs)
def test_every_consistency_proof_is_the_rfc_proof_and_verifies(pair: tuple[int, int]) -> None:
    """consistency_proof equals the recursive PROOF, and verify_consistency accepts it."""
    first, second = pair
    proof = consistency_proof(first, second, STORE)
    assert proof == subproof(first, LEAVES[:second], True)
    assert verify_consistency(first, second, true_root(first), true_root(second), proof)


@given(inclusion_targets, st.data())
def test_one_flipped_bit_breaks_an_inclusion_proof(
    target: tuple[int, int], data: st.DataObject
) -> None:
    """Flipping any bit of a proof element, of the leaf or of the root fails verification."""
    index, size = target
    leaf, proof, top = LEAVES[index], inclusion_proof(index, size, STORE), true_root(size)
    part = data.draw(st.sampled_from(["leaf", "root"] + (["proof"] if proof else [])))
    bit = data.draw(st.integers(0, 255))
    if part == "leaf":
        leaf = flip(leaf, bit)
    elif part == "root":
        top = flip(top, bit)
    else:
        at = data.draw(st.integers(0, len(proof) - 1))
        proof[at] = flip(proof[at], bit)
    assert not verify_inclusion(leaf, index, size, proof, top)


@given(consistency_pairs, st.data())
def test_one_flipped_bit_breaks_a_consistency_proof(
    pair: tuple[int, int], data: st.DataObject
) -> None:
    """Flipping any bit of a proof element or of either root fails verification."""
    first, second = pair
    proof = consistency_proof(first, second, STORE)
    roots = [true_root(first), true_root(second)]
    part = data.draw(st.sampled_from(["first", "second"] + (["proof"] if proof else [])))
    bit = data.draw(st.integers(0, 255))
    if part == "proof":
        at = data.draw(st.integers(0, len(proof) - 1))
        proof[at] = flip(proof[at], bit)
    else:
        roots[part == "second"] = flip(roots[part == "second"], bit)
    assert not verify_consistency(first, second, roots[0], roots[1], proof)


@given(inclusion_targets, st.data())
def test_an_inclusion_proof_fails_at_another_index(
    target: tuple[int, int], data: st.DataObject
) -> None:
    """A proof for one leaf proves nothing about another index, with either leaf."""
    index, size = target
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
    proof, top = inclusion_proof(index, size, STORE), true_root(size)
    assert not verify_inclusion(LEAVES[index], other, size, proof, top)
    assert not verify_inclusion(LEAVES[other], other, size, proof, top)


@given(inclusion_targets, tree_sizes)
def test_an_inclusion_proof_fails_against_another_tree_size(
    target: tuple[int, int], other: int
) -> None:
    """A proof for the tree of size n fails against the true root of any other size."""
    index, size = target
    proof = inclusion_proof(index, size, STORE)
    assert verify_inclusion(LEAVES[index], index, other, proof, true_root(other)) == (other == size)


@given(consistency_pairs, consistency_pairs)
def test_a_consistency_proof_fails_for_other_sizes(
    pair: tuple[int, int], other: tuple[int, int]
) -> None:
    """A non-empty proof for (m, n) fails for any other pair of sizes with their true roots."""
    first, second = pair
    proof = consistency_proof(first, second, STORE)
    ok = verify_consistency(*other, true_root(other[0]), true_root(other[1]), proof)
    # The empty proof of m == n rightly shows any tree consistent with itself.
    assert ok == (other == pair or (first == second and other[0] == other[1]))


hashes_or_junk = st.binary(min_size=32, max_size=32) | st.binary(max_size=40)
not_bytes = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=40),
    st.binary(min_size=32, max_size=32).map(bytearray),
    st.binary(min_size=32, max_size=32).map(lambda b: b.decode("latin-1")),
)
"""What a JSON receipt or a careless caller may hand over instead of a 32-byte hash."""
not_ints = st.none() | st.floats() | st.text(max_size=4) | st.binary(max_size=4)
not_proofs = not_bytes | st.lists(hashes_or_junk, max_size=4).map(lambda p: [*p, None]).flatmap(
    st.permutations
)
"""None, a hash, text, or a list with a non-bytes element somewhere."""


@given(
    hashes_or_junk,
    st.integers(-3, 2**70) | st.integers(0, 20),
    st.integers(-3, 2**70) | st.integers(0, 20),
    st.lists(hashes_or_junk, max_size=70),
    hashes_or_junk,
)
def test_verifiers_answer_false_to_garbage(
    leaf: bytes, a: int, b: int, proof: list[bytes], digest: bytes
) -> None:
    """Malformed hashes, proofs and sizes give a bool, never an exception; a short element False."""
    assert isinstance(verify_inclusion(leaf, a, b, proof, digest), bool)
    assert isinstance(verify_consistency(a, b, leaf, digest, proof), bool)
    assert verify_inclusion(leaf, a, b, [*proof, b"short"], digest) is False
    assert verify_consistency(a, b, leaf, digest, [b"short", *proof]) is False


@given(inclusion_targets, consistency_pairs, st.data())
def test_verifiers_answer_false_to_what_is_not_bytes(
    target: tuple[int, int], pair: tuple[int, int], data: st.DataObject
) -> None:
    """A valid proof with one argument replaced by what it is not (None, a float or text for a
    size; None, an int, text or a bytearray for a hash; a proof with such an element) verifies
    False and raises nothing."""
    index, size = target
    first, second = pair
    inclusion = [LEAVES[index], index, size, inclusion_proof(index, size, STORE), true_root(size)]
    consistency = [
        first,
        second,
        true_root(first),
        true_root(second),
        consistency_proof(first, second, STORE),
    ]
    for args, verify in ((inclusion, verify_inclusion), (consistency, verify_consistency)):
        assert verify(*args) is True
        part = data.draw(st.integers(0, len(args) - 1))
        kind = type(args[part])
        junk = data.draw(not_ints if kind is int else not_bytes if kind is bytes else not_proofs)
        assert verify(*args[:part], junk, *args[part + 1 :]) is False, (part, junk)


@given(st.integers(1, 2**70), not_bytes)
def test_equal_sizes_with_roots_that_are_not_bytes_are_not_consistent(
    size: int, junk: object
) -> None:
    """Equal sizes compare the roots, but two equal things that are not bytes (None and None)
    are no roots: False, as for one of them alone."""
    assert verify_consistency(size, size, junk, junk, []) is False  # type: ignore[arg-type]
    assert verify_consistency(size, size, junk, b"\x00" * 32, []) is False  # type: ignore[arg-type]
    root = b"\x00" * 32  # a bytearray equal to the root beside it is still not bytes
    assert verify_consistency(size, size, bytearray(root), root, []) is False  # type: ignore[arg-type]
    assert verify_consistency(size, size, root, bytearray(root), []) is False  # type: ignore[arg-type]


@given(consistency_pairs, st.integers(0, MAX_TREE - 1))
def test_readers_fetch_once_and_few_nodes(pair: tuple[int, int], index: int) -> None:
    """Each reader makes one nodes() call for at most two nodes per tree level."""
    first, second = pair
    bound = 2 * second.bit_length()
    for ask in (
        lambda r: root(second, r),
        lambda r: inclusion_proof(index % second, second, r),
        lambda r: consistency_proof(first, second, r),
    ):
        reader = CountingReader(STORE)
        ask(reader)
        assert len(reader.calls) == 1
        assert reader.calls[0] <= bound


@given(leaf_data)
def test_compact_range_follows_the_recursive_definition(data: list[bytes]) -> None:
    """After every append the root is MTH of the prefix, and the nodes handed out are exactly the
    perfect subtrees of the leaves so far, each once."""
    leaves = [leaf_hash(d) for d in data]
    tree, store, completed = CompactRange(), MemoryNodes(), []
    for n, leaf in enumerate(leaves, start=1):
        new = tree.append(leaf)
        assert new[0] == (0, n - 1, leaf)
        store.store(new)
        completed += new
        assert tree.size == n
        assert tree.root() == mth(leaves[:n]) == root(n, store)
    perfect = {
        (level, i): mth(leaves[i << level : (i + 1) << level])
        for level in range(len(leaves).bit_length())
        for i in range(len(leaves) >> level)
    }
    assert {(lv, i): h for lv, i, h in completed} == perfect
    assert len(completed) == len(perfect) == len(store)


@given(leaf_data, st.data())
def test_a_resumed_compact_range_continues_identically(
    data: list[bytes], draw: st.DataObject
) -> None:
    """Reloading the peaks from the stored nodes at any size continues exactly like the original."""
    leaves = [leaf_hash(d) for d in data]
    split = draw.draw(st.integers(0, len(leaves)))
    original, store = CompactRange(), MemoryNodes()
    for leaf in leaves[:split]:
        store.store(original.append(leaf))
    keys = CompactRange.peak_keys(split)
    found = store.nodes(keys)
    by_keys = CompactRange(split, [found[key] for key in keys])
    by_resume = CompactRange.resume(split, store)
    assert by_keys.peaks == by_resume.peaks == original.peaks
    for leaf in leaves[split:]:
        expected = original.append(leaf)
        assert by_keys.append(leaf) == expected == by_resume.append(leaf)
        assert by_keys.root() == original.root() == by_resume.root()


# -- a chunked store: leaves packed per chunk, nodes kept only at and above the chunk level --------


class ChunkedMemory:
    """What AuditStore keeps, in memory: leaf hashes in chunks of 2**level, and the nodes that
    `CompactRange.extend(keep_from=level)` hands out. Counts the rows it would write."""

    def __init__(self, level: int, leaves: Sequence[bytes], batches: Sequence[int]) -> None:
        span = 1 << level
        self.chunks = {
            c: list(leaves[c * span : (c + 1) * span]) for c in range(-(-len(leaves) // span))
        }
        self.upper: dict[Key, bytes] = {}
        self.tree = CompactRange()
        done = 0
        for size in [*batches, len(leaves)]:  # commits of arbitrary sizes, as a follower makes
            size = max(done, min(size, len(leaves)))
            for lv, i, digest in self.tree.extend(leaves[done:size], keep_from=level):
                assert lv >= level
                self.upper[lv, i] = digest
            done = size
        self.reader = ChunkedNodes(
            level,
            lambda keys: {k: self.upper[k] for k in keys if k in self.upper},
            lambda wanted: {c: self.chunks[c] for c in wanted if c in self.chunks},
        )


@given(st.integers(0, 5), st.lists(st.integers(0, MAX_TREE)), st.data())
def test_a_chunked_store_answers_like_the_plain_one(
    level: int, batches: list[int], draw: st.DataObject
) -> None:
    """Roots, inclusion and consistency proofs from packed leaves plus the nodes at or above the
    chunk level equal those of the store with every perfect node, for any size and batching."""
    size = draw.draw(tree_sizes)
    chunked = ChunkedMemory(level, LEAVES[:size], sorted(batches))
    assert chunked.tree.size == size
    assert chunked.tree.root() == true_root(size)
    assert all(lv >= level for lv, _ in chunked.upper)
    n = draw.draw(st.integers(1, size))
    assert root(n, chunked.reader) == true_root(n)
    assert CompactRange.resume(n, chunked.reader).peaks == CompactRange.resume(n, STORE).peaks
    index = draw.draw(st.integers(0, n - 1))
    assert inclusion_proof(index, n, chunked.reader) == inclusion_proof(index, n, STORE)
    first = draw.draw(st.integers(1, n))
    assert consistency_proof(first, n, chunked.reader) == consistency_proof(first, n, STORE)


@given(leaf_data, st.integers(0, 4), st.data())
def test_extend_equals_appending_one_by_one(
    data: list[bytes], level: int, draw: st.DataObject
) -> None:
    """extend(keep_from=L) from any start leaves the same range as append, and hands out
    exactly append's completed nodes at level L and above."""
    leaves = [leaf_hash(d) for d in data]
    split = draw.draw(st.integers(0, len(leaves)))
    one, bulk = CompactRange(), CompactRange()
    for leaf in leaves[:split]:
        one.append(leaf)
        bulk.append(leaf)
    expected = [node for leaf in leaves[split:] for node in one.append(leaf) if node[0] >= level]
    got = bulk.extend(leaves[split:], keep_from=level)
    assert sorted(got) == sorted(expected)
    assert bulk.size == one.size and bulk.peaks == one.peaks
    fresh, whole = CompactRange(), CompactRange()
    every = [node for leaf in leaves for node in fresh.append(leaf)]
    assert sorted(whole.extend(leaves)) == sorted(every)  # keep_from=0 keeps every node


@pytest.mark.parametrize("size", range(10))
def test_memory_nodes_of_leaves_holds_every_perfect_node(size: int) -> None:
    """MemoryNodes.of keeps exactly the perfect nodes over the leaves, leaves included."""
    perfect = subtree_nodes(0, LEAVES[:size])
    store = MemoryNodes.of(LEAVES[:size])
    assert len(store) == len(perfect)
    assert store.nodes([*perfect, (0, size)]) == perfect


def test_a_chunked_store_reads_only_the_table_it_needs() -> None:
    """Keys below the chunk level are recomputed from chunks, without a query of the upper
    nodes; keys at or above it come from the upper nodes, without reading a chunk."""
    chunked = ChunkedMemory(3, LEAVES[:20], [])
    asked: list[tuple[str, list[Any]]] = []

    def upper(keys: Collection[Key]) -> Mapping[Key, bytes]:
        asked.append(("upper", sorted(keys)))
        return {k: chunked.upper[k] for k in keys if k in chunked.upper}

    def chunks(wanted: Collection[int]) -> Mapping[int, Sequence[bytes]]:
        asked.append(("chunks", sorted(wanted)))
        return {c: chunked.chunks[c] for c in wanted if c in chunked.chunks}

    reader = ChunkedNodes(3, upper, chunks)
    assert reader.nodes([(0, 9), (2, 2)]) == {
        (0, 9): LEAVES[9],
        (2, 2): STORE.nodes([(2, 2)])[2, 2],
    }
    assert asked == [("chunks", [1])]
    asked.clear()
    assert reader.nodes([(3, 1), (4, 0)]) == STORE.nodes([(3, 1), (4, 0)])
    assert asked == [("upper", [(3, 1), (4, 0)])]


@given(st.integers(0, 6), st.integers(0, 40), st.data())
def test_subtree_nodes_are_the_perfect_nodes_of_a_chunk(
    level: int, chunk: int, draw: st.DataObject
) -> None:
    """The nodes recomputed from one chunk's leaves are the store's perfect nodes over them."""
    span = 1 << level
    if chunk * span >= MAX_TREE:
        return
    width = draw.draw(st.integers(1, min(span, MAX_TREE - chunk * span)))
    start = chunk * span
    found = subtree_nodes(start, LEAVES[start : start + width])
    expected = {
        (lv, i): mth(LEAVES[i << lv : (i + 1) << lv])
        for lv in range(width.bit_length())
        for i in range(start >> lv, (start + width) >> lv)
    }
    assert found == expected


# -- misuse ---------------------------------------------------------------------------------------


def test_proofs_outside_the_tree_are_refused() -> None:
    """An index past the end, an empty tree or first > second is a caller bug: ValueError."""
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(8, 8, PUBLISHED_STORE)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(0, 0, PUBLISHED_STORE)
    with pytest.raises(ValueError, match="first"):
        consistency_proof(0, 4, PUBLISHED_STORE)
    with pytest.raises(ValueError, match="first"):
        consistency_proof(5, 4, PUBLISHED_STORE)
    with pytest.raises(ValueError, match="tree size -1 is negative"):
        root(-1, PUBLISHED_STORE)
    with pytest.raises(ValueError, match="tree size -1 is negative"):
        CompactRange.peak_keys(-1)


def test_a_store_behind_the_size_asked_for_says_so() -> None:
    """Asking about more leaves than were stored raises MissingNodeError, not a wrong hash."""
    with pytest.raises(MissingNodeError, match="lacks"):
        root(9, PUBLISHED_STORE)
    with pytest.raises(MissingNodeError, match="lacks"):
        CompactRange.resume(9, PUBLISHED_STORE)
    with pytest.raises(MissingNodeError) as error:  # 31 leaves: five peaks, the first four named
        root(31, MemoryNodes())
    assert error.value.args == (
        "node store lacks perfect nodes [(0, 30), (1, 14), (2, 6), (3, 2)]",
    )


def test_compact_range_refuses_wrong_peaks_and_raw_leaves() -> None:
    """Peaks that do not fit the size, or event bytes passed instead of a leaf hash, are refused."""
    with pytest.raises(ValueError, match="peaks"):
        CompactRange(3, [EMPTY_ROOT])
    with pytest.raises(ValueError, match="tree size -1 is negative"):
        CompactRange(-1)
    with pytest.raises(ValueError, match="peaks must be 32-byte hashes"):
        CompactRange(1, [b"short"])
    with pytest.raises(ValueError, match="leaf hash"):
        CompactRange().append(b"canonical event bytes")
    with pytest.raises(ValueError, match="leaf hashes"):
        CompactRange().extend([EMPTY_ROOT, b"canonical event bytes"], keep_from=1)
    with pytest.raises(ValueError, match="aligned"):
        subtree_nodes(2, LEAVES[:4])
