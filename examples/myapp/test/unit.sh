#!/bin/sh
# Unit suite: every page of the site is complete and the health check file
# says ok.
set -eu
cd "$(dirname "$0")/.."
fail=0
for page in site/*.html dev/*.html; do
	for want in '<title>' '</html>'; do
		if ! grep -q "$want" "$page"; then
			echo "FAIL $page: no $want"
			fail=1
		fi
	done
done
if [ "$(cat site/healthz)" != ok ]; then
	echo "FAIL site/healthz: must contain ok"
	fail=1
fi
[ "$fail" = 0 ] && echo "unit: ok"
exit "$fail"
