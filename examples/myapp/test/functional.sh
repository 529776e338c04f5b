#!/bin/sh
# Functional suite: the deployed site answers with its title. It needs a
# running instance: set APP_URL (for example to a review environment's URL).
set -eu
if [ -z "${APP_URL:-}" ]; then
	echo "functional: skipped, APP_URL is not set"
	exit 0
fi
page=$(wget -q -O - "$APP_URL")
case "$page" in
*'<title>myapp'*) echo "functional: ok ($APP_URL)" ;;
*) echo "FAIL $APP_URL does not serve myapp"; exit 1 ;;
esac
