"""The docs pages as a person meets them: headless Chromium (tests/browser.py) on /api/v2/docs and
/api/v2/docs/realtime, served by the app alone (Swagger UI from node_modules, nothing from elsewhere)."""
from __future__ import annotations

import json

from gateway import openapi
from handlers.docs import SWAGGER_UI
from handlers.session_ws import CLIENT_TYPES
from tests.browser import chromium, chromium_or_skip

ONLY_SAME_ORIGIN = ("performance.getEntriesByType('resource').map(e => e.name)"
                    ".filter(name => !name.startsWith(location.origin))")


# Swagger UI renders a long document virtually (only what is near the viewport is in the DOM): walk
# down the page half a screen at a time, noting each operation shown, until the end of the page
# (or until `stop_at` is shown, which is then left opened in window.opened).
WALK = """(async (stopAt) => {
  const seen = new Set();
  window.scrollTo(0, 0);
  for (let step = 0; step < 3000; step++) {
    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 20)));
    for (const block of document.querySelectorAll('.opblock')) {
      const key = block.querySelector('.opblock-summary-method').textContent + ' '
        + block.querySelector('.opblock-summary-path').getAttribute('data-path');
      seen.add(key);
      if (key === stopAt) {
        block.querySelector('.opblock-summary-control').click();
        window.opened = block.id;
        return [...seen];
      }
    }
    const bottom = document.documentElement.scrollHeight - window.innerHeight;
    if (window.scrollY >= bottom - 1 && step > 2) return [...seen];
    window.scrollBy(0, Math.max(100, window.innerHeight / 2));
  }
  return [...seen];
})"""


async def test_swagger_ui_lists_every_operation_offline(make_client):
    chromium_or_skip()
    assert (SWAGGER_UI / "swagger-ui-bundle.js").is_file(), "swagger-ui-dist is not installed: npm ci"
    client = await make_client()
    base = f"http://127.0.0.1:{client.server.port}"
    spec = json.loads(openapi.document_bytes(client.server.app))
    operations = {f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item}

    async with chromium() as browser:
        page = await browser.open(f"{base}/api/v2/docs")
        await page.wait_for("document.querySelectorAll('.opblock').length > 0", timeout=60)
        title = await page.evaluate("document.querySelector('.info .title').textContent")
        assert "Allign API v2" in title
        shown = await page.evaluate(f"{WALK}(null)")
        assert set(shown) == operations, sorted(set(shown) ^ operations)
        tags = await page.evaluate("ui.specSelectors.taggedOperations().keySeq().toJS()")
        assert tags == [tag["name"] for tag in spec["tags"]]

        # One operation opened: its request example and its responses are there.
        await page.evaluate(f"{WALK}('POST /api/v2/connect/sessions')")
        text = await page.wait_for("document.getElementById(window.opened)?.querySelector('.responses-wrapper') && "
                                   "document.getElementById(window.opened).innerText")
        assert "target_doctor_id" in text and "cn-1d0fae55" in text, text[:2000]  # the reference's samples
        assert "SESSION_ALREADY_ACTIVE" in text and "WWW-Authenticate" in text and "409" in text

        # Nothing was loaded from anywhere but the app (no CDN, no validator badge).
        assert await page.evaluate(ONLY_SAME_ORIGIN) == []


async def test_realtime_page_shows_frames_and_close_codes(make_client):
    chromium_or_skip()
    client = await make_client()
    base = f"http://127.0.0.1:{client.server.port}"
    async with chromium() as browser:
        page = await browser.open(f"{base}/api/v2/docs/realtime")
        frames = await page.evaluate("[...document.querySelectorAll('[id^=frame-client-]')].map(e => e.textContent)")
        assert set(frames) == CLIENT_TYPES
        codes = await page.evaluate("[...document.querySelectorAll('[id^=close-] td:first-child')]"
                                    ".map(e => Number(e.textContent))")
        assert {1000, 1008, 1012, 4001, 4008} <= set(codes)
        events = await page.evaluate("[...document.querySelectorAll('[id^=event-]')].map(e => e.id)")
        assert events == ["event-connected", "event-session_requested", "event-session_request_removed"]
        assert await page.evaluate(ONLY_SAME_ORIGIN) == []
