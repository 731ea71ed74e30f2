#!/usr/bin/env bash
# System packages the project needs beyond Python: fonts for prescription PDFs, node packages (Swagger UI,
# Azurite), nginx and Chromium for tests.
# Installs only what is missing; quiet when everything is there.
set -euo pipefail
need_apt=()
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
[ -f /usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf ] || need_apt+=(fonts-noto-core)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need_apt[*]} (fonts for prescription PDFs)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "warning: fonts missing (${need_apt[*]}); prescription PDFs will fail until installed" >&2
  fi
fi
# pdftoppm (poppler-utils): the PDF tests render a prescription page to PNG.
if ! command -v pdftoppm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing poppler-utils (pdftoppm for the PDF tests)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
  else
    echo "warning: pdftoppm missing (poppler-utils); the PDF render test will fail" >&2
  fi
fi
# nginx (Debian's): tests/test_nginx.py runs deploy/nginx.conf in front of two app processes.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing nginx (the front proxy's tests)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  else
    echo "warning: nginx missing; the front proxy tests will be skipped" >&2
  fi
fi
# Chromium (headless): the browser tests (CORS from another origin, EventSource, WebSocket).
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium (headless browser for the CORS and docs tests)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "warning: chromium missing; the browser tests will be skipped" >&2
  fi
fi
# Node packages (package.json, pinned by package-lock.json): Swagger UI, which /api/v2/docs serves;
# Azurite (blob storage emulator) for the blob tests; AsyncAPI's JSON Schemas for the realtime
# document's test. Installed again whenever the lock file changes (a stamp named by its hash).
_project=$(cd "$(dirname "$0")/.." && pwd)
_node_stamp="$_project/node_modules/.installed-$(sha1sum "$_project/package-lock.json" | cut -c1-12)"
if [ ! -f "$_node_stamp" ]; then
  if command -v npm >/dev/null; then
    echo "installing node packages (npm ci): Swagger UI, Azurite, AsyncAPI schemas"
    if (cd "$_project" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
      touch "$_node_stamp"
    else
      echo "warning: npm ci failed; /api/v2/docs and the blob tests need its packages" >&2
    fi
  else
    echo "warning: npm missing; /api/v2/docs (Swagger UI) and the Azurite blob tests need node and npm" >&2
  fi
fi
