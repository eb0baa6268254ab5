"""splitbrain.history (floor 1): ops and pairing, the streaming writer, the formats we
read (JSONL, Jepsen EDN and log lines) and the store layout. Imports nothing of ours
but :mod:`splitbrain.errors`."""
