"""Admin wallet adjustments (support credits and refunds)."""
from aiohttp import web

routes = web.RouteTableDef()
