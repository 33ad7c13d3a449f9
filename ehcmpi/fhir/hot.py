"""The most frequent FHIR requests, answered before FastAPI's router.

FastAPI's request pipeline — its middleware, the router walking every included router,
dependency solving — cost about 0.4 ms of CPU per request on the reference machine, as much
as reading the patient itself (``bench/loadgen.py`` reading 20,000 stored patients with 32
connections and two workers: 1,161 → 1,573 reads/s once the read bypassed it).  The operation
modules list their hot endpoints as :class:`HotRoute` (``HOT_ROUTES``);
``ehcmpi.fhir.app`` looks the request up here first, in front of FastAPI's middleware, and calls
the very endpoint FastAPI would, with the same path parameters, after the same content
negotiation, its errors answered by the same OperationOutcome mapping.  FastAPI keeps the routes
too: for the OpenAPI documentation, and for every method and path not listed here.

Hot endpoints are ``async def``.  Reads do their work on the event loop, without a thread
hand-off (the endpoint's docstring says why that is right for it); a write hands it to one
of the worker's few request threads (``[server] request_threads``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.routing import compile_path

from ehcmpi.fhir import ids  # noqa: F401  (registers the fhir_id path convertor)

Endpoint = Callable[..., Awaitable[Response]]
PREFIX = "/fhir"


@dataclass(frozen=True)
class HotRoute:
    """``method`` and ``path`` (below ``/fhir``, FastAPI's path syntax) → ``endpoint``."""

    method: str
    path: str
    endpoint: Endpoint
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _convertors: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not inspect.iscoroutinefunction(self.endpoint):
            raise TypeError(f"hot endpoint {self.endpoint.__name__} must be async")
        pattern, _, convertors = compile_path(PREFIX + self.path)
        object.__setattr__(self, "_pattern", pattern)
        object.__setattr__(self, "_convertors", convertors)

    def match(self, path: str) -> dict[str, Any] | None:
        found = self._pattern.match(path)
        if found is None:
            return None
        return {k: self._convertors[k].convert(v) for k, v in found.groupdict().items()}


class HotRoutes:
    """The hot routes by method, tried in the order given."""

    def __init__(self, routes: Iterable[HotRoute]) -> None:
        self._by_method: dict[str, list[HotRoute]] = {}
        for route in routes:
            self._by_method.setdefault(route.method, []).append(route)

    def find(self, method: str, path: str) -> tuple[HotRoute, dict[str, Any]] | None:
        for route in self._by_method.get(method, ()):
            params = route.match(path)
            if params is not None:
                return route, params
        return None
