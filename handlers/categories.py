"""Health categories (public list for patients)."""
from aiohttp import web

routes = web.RouteTableDef()
