"""Webhooks from outside services (LiveKit, Cashfree)."""
from aiohttp import web

routes = web.RouteTableDef()
