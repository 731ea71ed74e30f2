"""App assembly, middlewares and the realtime core (event bus, SSE, websockets, background jobs)."""
