"""Task plumbing for background loops: a timer-based wake-up and a stop that survives lost cancellations."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


class Wakeup:
    """A flag that producers set and one background loop waits on, with a timeout.

    The timeout is a timer resolving the wait, not asyncio.timeout or wait_for, which work by
    cancelling the waiting task (wait_for in a task of its own, and on Python 3.11 it can return
    instead of raising a cancellation that lands as the wait completes). A loop that waits four
    times a second stays clear of cancellation bookkeeping; only shutdown cancels it.
    """

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self, timeout: float) -> bool:
        """True once set (at once if it already is), False after `timeout` seconds."""
        if not self._set:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(timeout, _resolve, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        return self._set


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def await_chain(task: asyncio.Task) -> list[str]:
    """Where a task waits: `file:line function` of each coroutine in its chain of awaits."""
    chain: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_filename.rpartition('/')[2]}:{frame.f_lineno} {frame.f_code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    return chain


async def stop_task(task: asyncio.Task | None, *, patience: float = 1.0) -> None:
    """Cancel `task` and wait until it has ended, whatever it raised.

    A library call can lose a cancellation (redis-py's writes did, through Python 3.11's wait_for:
    see storage.redis), and a background loop that lost it runs on: shutdown then waits forever.
    So the cancellation is repeated every `patience` seconds until it takes, with a warning that
    says where the task was waiting.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=patience)
        if not task.done():
            log.warning("task %s did not stop when cancelled; cancelling it again (it waits in %s)",
                        task.get_name(), " → ".join(await_chain(task)))
    if not task.cancelled():
        task.exception()  # retrieved: an error at shutdown is not reported as never retrieved
