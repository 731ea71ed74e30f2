"""Session recordings through LiveKit egress."""
from aiohttp import web

routes = web.RouteTableDef()
