"""The doctor's request stream (SSE)."""
from aiohttp import web

routes = web.RouteTableDef()
