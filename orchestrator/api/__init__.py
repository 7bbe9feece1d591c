"""The API process's composition root: ``create_app`` mounts every room's routes (the intake,
Slack, TikTok's webhook, the switch, incidents, the timeline pages, health and metrics) on one
FastAPI app, and ``prepare`` warms it before the first request.

Who may call which route (the tokens) is checked by ``inbound/access.py``, below the views
that use it; this package only assembles.
"""
