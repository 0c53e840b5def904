"""The witness: a separate process that cosigns the ledger's checkpoints (C2SP tlog-witness).

`protocol` is the wire format (shared with the ledger's witness client), `state` the witness's
own SQLite file, `witness` the checks of add-checkpoint, `server` the ASGI app around them."""
