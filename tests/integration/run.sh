#!/bin/sh
# Bulwark's black-box integration tests.  BULWARK_BUILD names the folder
# with bulwarkd, bulwarkctl and sendmail (default: obj); extra arguments
# go to the runner (-k PATTERN, -l, -q).  BULWARK_SHARED_CORPUS, unless
# set, is where tools/shared-corpus.sh finds the shared corpus.
cd "$(dirname "$0")/../.." || exit 1
: "${BULWARK_BUILD:=obj}"
if [ -z "${BULWARK_SHARED_CORPUS:-}" ]; then
	BULWARK_SHARED_CORPUS=$(tools/shared-corpus.sh)
fi
export BULWARK_BUILD BULWARK_SHARED_CORPUS
exec python3 tests/integration/runner.py "$@"
