"""Prometheus metrics, one registry per app (so test apps never collide)."""
from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from common.signatures import same_secret
from domain.errors import Unauthorized
from gateway import keys
from gateway.openapi_doc import OPERATIONS, PUBLIC, Reply, doc


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("allign_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            "allign_http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.in_flight = Gauge("allign_http_requests_in_flight", "Requests being served", registry=r)
        self.sse_open = Gauge("allign_sse_connections", "Open SSE streams", registry=r)
        self.ws_open = Gauge("allign_ws_connections", "Open websockets", registry=r)
        self.events_published = Counter("allign_events_published_total", "Events published", ["channel_kind"], registry=r)
        self.events_delivered = Counter("allign_events_delivered_total", "Events delivered to clients", ["transport"], registry=r)
        # Labelled children looked up once per (method, route, status): `labels()` per request costs
        # a lock and a tuple on the hot path.
        self._done: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.slow_consumers = Counter("allign_slow_consumers_total", "Connections dropped as too slow", ["transport"], registry=r)


    def request_done(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._done.get((method, route, status))
        if children is None:
            children = self._done[(method, route, status)] = (
                self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)


@doc("Prometheus metrics", tag=OPERATIONS, auth=PUBLIC, errors=(401,),
     responses={200: Reply("Prometheus text format", schema={"type": "string"}, content_type="text/plain")},
     description="Open when METRICS_TOKEN is unset; otherwise send it as `Authorization: Bearer <METRICS_TOKEN>`.")
async def metrics_handler(request: web.Request) -> web.Response:
    """Open when METRICS_TOKEN is unset (local use); else it must come as the bearer token."""
    token = request.app[keys.SETTINGS].metrics_token
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not same_secret(token, given.strip()):
            raise Unauthorized()
    body = generate_latest(request.app[keys.METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
