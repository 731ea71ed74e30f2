"""Wallet balance and transactions."""
from aiohttp import web

routes = web.RouteTableDef()
