#!/bin/sh
# Bulwark's black-box integration tests.  BULWARK_BUILD names the folder
# with bulwarkd, bulwarkctl and sendmail (default: obj); extra arguments
# go to the runner (-k PATTERN, -l, -q).
cd "$(dirname "$0")/../.." || exit 1
: "${BULWARK_BUILD:=obj}"
export BULWARK_BUILD
exec python3 tests/integration/runner.py "$@"
