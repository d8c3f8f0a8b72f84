#!/bin/sh
# Builds the web UI into OUTDIR: installs the locked npm packages when they are
# missing or the lock file changed, then bundles with web/build.mjs.
set -eu
out=${1:?usage: build-web.sh OUTDIR}
cd "$(dirname "$0")/../web"
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
node build.mjs "$out"
