"""Connect Now v2 sessions: create, requests, detail, accept, reject, end, token."""
from aiohttp import web

routes = web.RouteTableDef()
