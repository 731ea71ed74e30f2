"""The follow-up reminder job: pushes `followup.reminder` to the patient before each accepted
follow-up (FOLLOWUP_REMINDER_BEFORE, default 1 h; 09:00 of its day in its zone without a time).

Exactly once with any number of server processes, any of them restarting: a pass claims due rows
with SKIP LOCKED and marks them in the transaction that writes their pushes
(services.followups.send_due_reminders), so a claim is seen by every process once committed and
vanishes with its pushes if the process dies first. A follow-up whose time moves (a reschedule
accepted) is due again for its new time. Runs on the app clock.
"""
from __future__ import annotations


from aiohttp import web

from gateway import keys
from gateway.jobs import every
from gateway.tx import services
from services import followups


async def remind_once(app: web.Application) -> int:
    """One pass over every due follow-up (in batches); how many reminders it pushed."""
    pushed = 0
    while True:
        claimed, sent = await followups.send_due_reminders(services(app))
        pushed += sent
        if claimed < followups.REMINDER_BATCH:
            return pushed


async def followup_reminder(app: web.Application) -> None:
    await every(app[keys.SETTINGS].followup_reminder_interval, lambda: remind_once(app), "follow-up reminders pushed")
