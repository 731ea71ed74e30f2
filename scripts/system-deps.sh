#!/usr/bin/env bash
# System packages the project needs beyond Python: fonts for prescription PDFs, Azurite for blob tests.
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
