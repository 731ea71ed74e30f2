"""The use-case layer: one function per state change, owning its transaction.

A use case applies the rules of `domain/`, reads and writes rows through `storage/`, and writes its
events and pushes into the outbox in the same transaction. REST handlers and websocket frames call
the same function; nothing here knows about HTTP (it raises domain.errors, which the gateway maps).
"""
