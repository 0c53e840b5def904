"""The orjson transcoder keeps eventsourcing's own transcoder contract: the library's
`TranscoderTestCase`, with the six cases the library itself skips for `JSONTranscoder`."""

from __future__ import annotations

from unittest import skip

from eventsourcing.persistence import Transcoder, UUIDAsHex
from eventsourcing.tests import persistence as library

from domain.persistence.transcoder import OrjsonTranscoder


class TestOrjsonTranscoder(library.TranscoderTestCase):
    """Every case of the library's suite but those JSON cannot carry (as for JSONTranscoder)."""

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        transcoder.register(library.CustomType1AsDict())
        transcoder.register(library.CustomType2AsDict())
        transcoder.register(UUIDAsHex())
        return transcoder

    @skip("JSON has no tuples: they come back as lists (as with JSONTranscoder)")
    def test_tuple(self) -> None: ...

    @skip("JSON has no tuples: they come back as lists (as with JSONTranscoder)")
    def test_mixed(self) -> None: ...

    @skip("dict subclasses come back as dict (as with JSONTranscoder)")
    def test_dict_subclass(self) -> None: ...

    @skip("list subclasses come back as list (as with JSONTranscoder)")
    def test_list_subclass(self) -> None: ...

    @skip("str subclasses come back as str (as with JSONTranscoder)")
    def test_str_subclass(self) -> None: ...

    @skip("int subclasses come back as int (as with JSONTranscoder)")
    def test_int_subclass(self) -> None: ...
