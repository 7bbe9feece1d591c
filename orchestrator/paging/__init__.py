"""Paging the on-call: PagerDuty Events API v2 and Opsgenie's Alert API (an adapter)."""
