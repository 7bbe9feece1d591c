"""What goes out once and must be proven sent: the report to TikTok (its text and its ledger, one
row per incident and channel) and each email, by idempotency key.

The actions that send (``actions/report.py``, ``actions/email.py``) and the card that shows the
report's state (``chatops/card_sync.py``) read these rows; none of them owns them."""
