"""orjson as the event transcoder: the JSON eventsourcing's JSONTranscoder writes, only faster.

orjson serialises datetimes and UUIDs natively, which would lose their types on the way back, so
datetimes are passed through to the registered transcodings and UUIDs are tagged before encoding,
both in the object given and in what a registered transcoding returns. An unregistered type
raises the library's own `TranscodingNotRegisteredError`, not orjson's wrapper of it: the
library's `TranscoderTestCase` holds this class to JSONTranscoder's contract
(tests/domain/persistence/test_transcoder.py)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


class OrjsonTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(_tag_uuids(obj), default=self._encode_tagged, option=_OPTIONS)
        except orjson.JSONEncodeError as error:
            if isinstance(error.__cause__, TranscodingNotRegisteredError):
                raise error.__cause__ from None
            raise

    def _encode_tagged(self, obj: Any) -> dict[str, Any]:
        """A registered transcoding's output, with the UUIDs in it tagged as JSONTranscoder's."""
        encoded: dict[str, Any] = _tag_uuids(self._encode_obj(obj))
        return encoded

    def decode(self, data: bytes) -> Any:
        return self._untag(orjson.loads(data))

    def _untag(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self._decode_obj({k: self._untag(v) for k, v in value.items()})
        if isinstance(value, list):
            return [self._untag(v) for v in value]
        return value


def _tag_uuids(value: Any) -> Any:
    if isinstance(value, UUID):
        return {"_type_": "uuid_hex", "_data_": value.hex}
    if isinstance(value, dict):
        return {k: _tag_uuids(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tag_uuids(v) for v in value]
    return value
