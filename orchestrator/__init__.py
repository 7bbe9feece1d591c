"""Security incident response and TikTok disconnect orchestrator.

The public surface for code outside the project: the normalised event shape and
the error root. The application guard lives in ``orchestrator.guard`` so that it
can be imported without the orchestrator's heavier dependencies.
"""

from orchestrator.errors import OrchestratorError
from orchestrator.events.schemas import CompromiseEvent, Entities, Severity

__all__ = ["CompromiseEvent", "Entities", "OrchestratorError", "Severity", "__version__"]

__version__ = "0.1.0"
