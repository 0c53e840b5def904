"""The transparency log: Merkle tree, signed checkpoints and the auditor's export."""
