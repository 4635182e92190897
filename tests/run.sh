#!/usr/bin/env bash
# The README's test command: installs everything the tests need on a fresh Debian machine
# (a virtual environment with the pinned packages, Debian's chromium for the browser tests),
# then runs the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt

export HF_HUB_OFFLINE=1
# Every temporary file of the run (Gradio's cache, gradio_client's downloads, the answers' files) goes
# into one folder removed at the end, so runs do not pile up in the machine's temporary directory.
TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/clip-lab-suite-XXXXXX")"
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
# Two workers, one test file each at a time (a file's module fixtures — the app server, the browser —
# start once): one pytest process keeps about one of the two cores busy (15 min 37 s → 11 min 57 s).
# CLIP_LAB_TEST_WORKERS=0 runs in one process.
.venv/bin/python -m pytest -q -n "${CLIP_LAB_TEST_WORKERS:-2}" --dist loadfile "$@"  # settings: pyproject.toml
