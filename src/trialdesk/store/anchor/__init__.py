"""The audit trail anchored outside the database: signed checkpoints (issue 18).

The hash chain in `trialdesk.store.audit` proves the trail consistent with itself; it cannot
prove it is the trail that was written. Whoever can write to the database can edit entry #2,
recompute the SHA-256 hashes of #2…#n and the head row, and the chain verifies. So the chain is
also anchored outside the database:

* a signing key that the database never holds (Ed25519, RFC 8032, through `cryptography`),
  in a key file written 0600 by ``trialdesk audit keygen`` (`keys`);
* an append-only checkpoint log, a JSON Lines file outside the database, whose records are
  signed and chained to each other and carry the chain hash, a content fingerprint, the table
  and the record of every entry since the previous checkpoint (`log`);
* checkpoints written by the server periodically and every N entries (`background`), at every
  ``trialdesk backup`` and on demand (``trialdesk audit checkpoint``) (`checkpoint`);
* ``trialdesk audit rotate-key`` hands the log over to a new key, signed by the old and the new
  one; older checkpoints still verify under the retired public key (`rotation`);
* ``trialdesk audit verify`` compares the database with the log and names the first entry that
  differs and how: altered, removed, reordered, rewritten since a checkpoint, rolled back
  (`compare`).

This follows the "checkpoint" idea of transparency logs (RFC 9162 §4.10: a signed tree head a
verifier keeps outside the log) with a linear hash chain instead of a Merkle tree, and meets
21 CFR 11.10(e) / 11.10(c) (audit trails that cannot obscure previous values; protection of
records): a rewrite needs the key as well as database access.
"""

from trialdesk.store.anchor.checkpoint import CheckpointRefused, write_checkpoint
from trialdesk.store.anchor.compare import AnchoredReport, verify_anchored
from trialdesk.store.anchor.config import AnchorConfig, anchor_config
from trialdesk.store.anchor.keys import AnchorKeyError, generate_key
from trialdesk.store.anchor.rotation import RotationResult, rotate_key

__all__ = [
    "AnchorConfig",
    "AnchorKeyError",
    "AnchoredReport",
    "CheckpointRefused",
    "anchor_config",
    "generate_key",
    "RotationResult",
    "rotate_key",
    "verify_anchored",
    "write_checkpoint",
]
