#!/bin/sh
# Installs what trackd needs to build and run (and, with --test, to run
# every test), if anything is missing. Safe to run repeatedly: it does
# nothing when all is present.
#   Debian packages: compiler, CMake, libuv, libwebsockets (+ its libuv
#   event library), SQLite, jansson, libargon2, OpenSSL's libcrypto, cmocka,
#   libcurl and libmosquitto (notification delivery), libopencore-amrnb
#   (watches' AMR voice messages decoded to WAV);
#   Node.js and npm when no node is on the PATH (the web UI is built with
#   npm packages). With --test also Debian's chromium and the browser test's
#   npm packages (playwright-core), the mosquitto broker (notification
#   test), and clang with its libFuzzer runtime (the fuzz targets).
set -eu

PACKAGES="build-essential cmake pkg-config libuv1-dev libwebsockets-dev libwebsockets-evlib-uv \
libsqlite3-dev libjansson-dev libargon2-dev libssl-dev libcmocka-dev python3 sqlite3 \
libcurl4-openssl-dev libmosquitto-dev libopencore-amrnb-dev"
TEST=0
[ "${1:-}" = "--test" ] && TEST=1
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs npm"
[ $TEST = 1 ] && PACKAGES="$PACKAGES chromium mosquitto clang libclang-rt-14-dev"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=sudo
        else
            echo "install-deps: need root (or sudo) to install:$missing" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $missing
fi

if [ $TEST = 1 ]; then
    cd "$(dirname "$0")/../tests/browser"
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        echo "install-deps: installing the browser test's npm packages"
        npm ci --no-audit --no-fund --loglevel=error
    fi
fi
