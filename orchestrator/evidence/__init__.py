"""Evidence an auditor can verify offline: the signing key, checkpoints and exported bundles."""
