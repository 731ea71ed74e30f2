"""Doctor-side: overview, sessions, presence, availability, profile."""
from aiohttp import web

routes = web.RouteTableDef()
