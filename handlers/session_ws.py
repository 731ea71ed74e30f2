"""The session websocket."""
from aiohttp import web

routes = web.RouteTableDef()
