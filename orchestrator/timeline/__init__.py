"""The incident timeline: append-only, hash-chained facts, and their exports."""
