"""Patient profile."""
from aiohttp import web

routes = web.RouteTableDef()
