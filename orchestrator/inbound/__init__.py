"""What every inbound HTTP request meets before any room reads it: its body read up to a limit
(``bodies``), a signed delivery's check, whoever signed it (``signatures``), and the memory of
deliveries already taken (``replay``).

It sits beside the store, below the domain, so the intake, the Slack endpoints, TikTok's webhook
and the login form share one implementation of each instead of importing the intake's.
"""
