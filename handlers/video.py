"""Video permission and call sessions."""
from aiohttp import web

routes = web.RouteTableDef()
