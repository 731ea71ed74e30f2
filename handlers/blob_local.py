"""Upload and download endpoints of the local blob store (HMAC-signed, expiring URLs)."""
from aiohttp import web

routes = web.RouteTableDef()
