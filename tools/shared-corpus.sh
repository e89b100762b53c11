#!/bin/sh
# Print where ../shared/corpus is: BULWARK_SHARED_CORPUS, beside the
# checkout, or beside the checkout this one was cloned from (CI runs a
# clone).  Prints nothing when there is none; the tests then use their
# own corpus only.
top=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${BULWARK_SHARED_CORPUS:-}" ]; then
	echo "$BULWARK_SHARED_CORPUS"
	exit 0
fi
if [ -d "$top/../shared/corpus" ]; then
	(cd "$top/../shared/corpus" && pwd)
	exit 0
fi
origin=$(git -C "$top" remote get-url origin 2>/dev/null) || exit 0
origin=${origin#file://}
if [ -d "$origin/../shared/corpus" ]; then
	(cd "$origin/../shared/corpus" && pwd)
fi
exit 0
