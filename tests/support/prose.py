"""Ordinary incident prose, as on-call people write it: redaction must leave every line alone
(issue 29), wherever it is checked (the redactor itself, notes through Slack)."""

PROSE = [
    "Disabled the token refresher cronjob",
    "Token revocation: finished",
    "*Token revocation*: finished",
    "Token exfiltration on web-1",
    "Rotated the client secret (ticket_id SEC-1234) and informed legal",
    "Secret rotation done; token: revoked for every user",
    "Basic checks passed, token store drained",
    "The signature: verified by the on-call engineer",
    "Token status: finished; secret status: rotated",
    "Legal informed, customers next. Token refreshers stopped at 14:02 UTC.",
    "Password reset emails went out to 300 users",
    "token expiry window shortened to 5 minutes",
    "The API key rotation is pending approval",
    "Revoked 2000 TikTok tokens (scope all) in 11.2 s",
    "host web-1: token replay from 203.0.113.7 blocked",
    "Basic authentication disabled on the admin panel",
    "Bearer authentication is enforced now",
    "Token: 2000 revoked",
    "token: 14:02 UTC",
    "sig: 2026-12-06",
]
