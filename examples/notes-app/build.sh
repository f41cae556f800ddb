#!/bin/sh
# The release's build step, run by the deploy as the app user in the release folder, with no network:
# a virtualenv at .venv from the wheels bundled in wheels/. On Debian and Ubuntu, `python3 -m venv`
# needs the python3-venv package. Nothing is written outside this folder.
set -eu
echo "notes: creating .venv with $(python3 --version 2>&1)"
python3 -m venv .venv
.venv/bin/python -m pip install --no-index --find-links wheels --only-binary=:all: --no-cache-dir \
    --disable-pip-version-check --no-input --progress-bar off -r requirements.txt
# Compile the app now: the release is read-only for the app once it runs.
.venv/bin/python -m compileall -q notes
echo "notes: .venv ready"
