"""Admin: users, wallet adjustments, categories (and later offers, articles, events)."""
from aiohttp import web

routes = web.RouteTableDef()
