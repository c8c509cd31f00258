#!/usr/bin/env bash
# Installs what the browser tests need: Debian's Chromium (never a downloaded browser), a Korean
# font (the default UI locale is ko) and the pinned playwright-core from e2e/package-lock.json.
# Fails naming the command to run when it cannot install something itself.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
if ! fc-list 2>/dev/null | grep -qi -e nanum -e 'noto sans cjk'; then need+=(fonts-nanum); fi

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "browser-prereqs: installing ${need[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "browser-prereqs: missing ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
[ -x /usr/bin/chromium ] || { echo "browser-prereqs: /usr/bin/chromium still missing; run: sudo apt-get install -y chromium" >&2; exit 1; }

command -v npm >/dev/null || { echo "browser-prereqs: npm is missing; run: sudo apt-get install -y npm" >&2; exit 1; }
# playwright-core has no browser download step; the variable makes sure nothing else tries either.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
want=$(node -p "require('./e2e/package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "try{require('./e2e/node_modules/playwright-core/package.json').version}catch{''}")
if [ "$want" != "$have" ]; then
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error) || { echo "browser-prereqs: failed: (cd e2e && npm ci)" >&2; exit 1; }
fi
echo "browser-prereqs: ok ($(/usr/bin/chromium --version 2>/dev/null | head -1), playwright-core $(node -p "require('./e2e/node_modules/playwright-core/package.json').version"))"
