"""Proof of revocation: probe a sample, take TikTok's receipt, and count what is still exposed."""

from orchestrator.proof.census import (
    Census,
    CensusApp,
    count_census,
    escalated,
    latest_census,
    take_census,
)
from orchestrator.proof.summary import Exposure, exposure_from_entries, exposure_sentence

__all__ = [
    "Census",
    "CensusApp",
    "Exposure",
    "count_census",
    "escalated",
    "exposure_from_entries",
    "exposure_sentence",
    "latest_census",
    "take_census",
]
