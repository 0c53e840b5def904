# Sourced by scripts/test: the browser tests drive Debian's Chromium (/usr/bin/chromium) through
# Playwright, whose own browser download cannot work here. Install it when it is missing, or stop
# the run loudly: CI must not pass with the browser tests unable to run.
if [ ! -x /usr/bin/chromium ]; then
  echo "scripts/test: /usr/bin/chromium is missing; installing Debian's chromium" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "scripts/test: need root (or sudo) to install chromium" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >&2 || { echo "scripts/test: apt-get update failed" >&2; exit 1; }
  $sudo apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >&2 \
    || { echo "scripts/test: could not install chromium; the browser tests cannot run" >&2; exit 1; }
  [ -x /usr/bin/chromium ] || { echo "scripts/test: chromium installed but /usr/bin/chromium is absent" >&2; exit 1; }
fi

# axe-core, which the console's browser test injects for its WCAG 2.1 AA checks, comes from npm
# at the version package-lock.json pins (npm ci: exactly that, nothing else).
pinned=$(sed -n 's/.*"axe-core": "\(.*\)".*/\1/p' package.json)
installed=$(sed -n 's/^  "version": "\(.*\)".*/\1/p' node_modules/axe-core/package.json 2>/dev/null || true)  # none yet: sed exits 2, and set -e would end the run
if [ ! -f node_modules/axe-core/axe.min.js ] || [ "$pinned" != "$installed" ]; then
  command -v npm >/dev/null || { echo "scripts/test: npm is missing (apt-get install npm)" >&2; exit 1; }
  npm ci --no-audit --no-fund --loglevel=error >&2 \
    || { echo "scripts/test: npm ci failed; the accessibility checks cannot run" >&2; exit 1; }
fi
