"""The project's one exception tree, so callers can catch by meaning.

OrchestratorError
├── ConfigError            a setting is missing or invalid (names the key)
├── StoreError             the store cannot be reached or refused a write
│   └── SchemaError        the store's schema is one this release cannot run on
├── BrokerError            the broker cannot be reached
├── ValidationFailed       input does not fit its contract (names the field)
│   ├── MalformedInput     input cannot even be parsed (bad JSON, bad encoding)
│   └── TooLarge           more in one request than allowed (names the limit)
├── AuthenticationFailed   a caller could not prove who it is
├── NotFound               an id or name that does not exist
├── PlaybookError          a playbook file is invalid (file:line:column: reason)
├── ActionError            an action failed; ``retryable`` says whether to try again
└── TikTokError            TikTok answered in a way we cannot act on
"""

from __future__ import annotations

__all__ = [
    "EXIT_SCHEMA",
    "ActionError",
    "AuthenticationFailed",
    "BrokerError",
    "ConfigError",
    "MalformedInput",
    "NotFound",
    "OrchestratorError",
    "PlaybookError",
    "SchemaError",
    "StoreError",
    "TikTokError",
    "TooLarge",
    "ValidationFailed",
]


class OrchestratorError(Exception):
    """Root of every error the orchestrator raises on purpose."""


class ConfigError(OrchestratorError):
    """A setting is missing or invalid; the message names the key."""


class StoreError(OrchestratorError):
    """The store cannot be reached or refused a write."""


class SchemaError(StoreError):
    """The store's schema is behind this release, or newer and not additive: restarting the
    process changes nothing, so commands exit with ``EXIT_SCHEMA`` (78) and supervisors stop."""


EXIT_SCHEMA = 78
"""sysexits' EX_CONFIG: the worker's supervisor and systemd (RestartPreventExitStatus) do not
restart a process that exits with it."""


class BrokerError(OrchestratorError):
    """The broker cannot be reached."""


class ValidationFailed(OrchestratorError):
    """Input does not fit its contract; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MalformedInput(ValidationFailed):
    """Input cannot be parsed at all (invalid JSON, wrong encoding): HTTP 400, not 422."""


class TooLarge(ValidationFailed):
    """More in one request than allowed; the message names the limit and its setting: HTTP 413."""


class AuthenticationFailed(OrchestratorError):
    """A caller could not prove who it is; never says which part failed."""


class NotFound(OrchestratorError):
    """An id or name that does not exist."""


class PlaybookError(OrchestratorError):
    """A playbook is invalid; the message reads ``file:line:column: what is wrong``."""


class ActionError(OrchestratorError):
    """An action failed; ``retryable`` tells the engine whether another attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class TikTokError(OrchestratorError):
    """TikTok answered in a way the orchestrator cannot act on."""
