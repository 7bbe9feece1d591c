"""HTTP clients that ask the guard before a request to a TikTok host: httpx (sync, async), requests.

``httpx`` and ``requests`` are imported when an adapter is built, never at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from orchestrator.guard.checker import Guard
from orchestrator.guard.process import current

if TYPE_CHECKING:
    import httpx
    from requests.adapters import HTTPAdapter  # optional: see guard/__init__.py

__all__ = ["httpx_async_transport", "httpx_transport", "requests_adapter"]


def httpx_transport(
    inner: httpx.BaseTransport | None = None, *, guard: Guard | None = None
) -> httpx.BaseTransport:
    """An httpx transport that raises ``Disconnected`` for TikTok hosts while engaged, before any I/O."""
    import httpx  # optional: the guard imports the standard library only (guard/__init__.py)

    class GuardedTransport(httpx.BaseTransport):
        def __init__(self, wrapped: httpx.BaseTransport) -> None:
            self.wrapped = wrapped

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            (guard or current()).check_host(request.url.host)
            return self.wrapped.handle_request(request)

        def close(self) -> None:
            self.wrapped.close()

    return GuardedTransport(inner if inner is not None else httpx.HTTPTransport())


def httpx_async_transport(
    inner: httpx.AsyncBaseTransport | None = None, *, guard: Guard | None = None
) -> httpx.AsyncBaseTransport:
    """The async twin of ``httpx_transport`` (a refresh may block up to a source's timeout)."""
    import httpx  # optional: the guard imports the standard library only (guard/__init__.py)

    class GuardedAsyncTransport(httpx.AsyncBaseTransport):
        def __init__(self, wrapped: httpx.AsyncBaseTransport) -> None:
            self.wrapped = wrapped

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            (guard or current()).check_host(request.url.host)
            return await self.wrapped.handle_async_request(request)

        async def aclose(self) -> None:
            await self.wrapped.aclose()

    return GuardedAsyncTransport(inner if inner is not None else httpx.AsyncHTTPTransport())


def requests_adapter(*, guard: Guard | None = None, **adapter_options: Any) -> HTTPAdapter:
    """A requests ``HTTPAdapter`` that raises ``Disconnected`` for TikTok hosts while engaged.

    Mount it for both schemes: ``session.mount("https://", a); session.mount("http://", a)``.
    """
    from requests.adapters import HTTPAdapter  # optional: see guard/__init__.py

    class GuardedAdapter(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            (guard or current()).check_host(urlsplit(request.url or "").hostname or "")
            return super().send(request, *args, **kwargs)

    return GuardedAdapter(**adapter_options)
