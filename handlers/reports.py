"""Patient reports of a session."""
from aiohttp import web

routes = web.RouteTableDef()
