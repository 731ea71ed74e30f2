"""Device tokens for push."""
from aiohttp import web

routes = web.RouteTableDef()
