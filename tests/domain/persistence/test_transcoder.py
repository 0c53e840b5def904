"""The orjson transcoder keeps eventsourcing's own transcoder contract: the library's
`TranscoderTestCase`, with the six cases the library itself skips for `JSONTranscoder`."""

from __future__ import annotations

from collections.abc import Callable
from unittest import skip

from eventsourcing.persistence import Transcoder, UUIDAsHex
from eventsourcing.tests import persistence as library

from domain.persistence.transcoder import OrjsonTranscoder


def _not_carried(reason: str) -> Callable[[library.TranscoderTestCase], None]:
    """A case of the library's suite that JSON cannot carry: skipped, as for JSONTranscoder."""
    return skip(f"{reason} (as with JSONTranscoder)")(lambda self: None)


class TestOrjsonTranscoder(library.TranscoderTestCase):
    """Every case of the library's suite but those JSON cannot carry (as for JSONTranscoder)."""

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        transcoder.register(library.CustomType1AsDict())
        transcoder.register(library.CustomType2AsDict())
        transcoder.register(UUIDAsHex())
        return transcoder

    test_tuple = _not_carried("JSON has no tuples: they come back as lists")
    test_mixed = _not_carried("JSON has no tuples: they come back as lists")
    test_dict_subclass = _not_carried("dict subclasses come back as dict")
    test_list_subclass = _not_carried("list subclasses come back as list")
    test_str_subclass = _not_carried("str subclasses come back as str")
    test_int_subclass = _not_carried("int subclasses come back as int")
