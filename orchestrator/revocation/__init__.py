"""Mass token revocation: a ledger by fingerprint, batches fanned out, resumable, rate-limited."""
