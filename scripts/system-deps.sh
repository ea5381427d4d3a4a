#!/bin/sh
# Debian packages Lookout needs: Chromium (Playwright cannot download its own browser here) and ffmpeg
# (video recording). Installed when missing and we are root; otherwise say what to install.
missing=""
command -v chromium >/dev/null 2>&1 || [ -n "${LOOKOUT_CHROMIUM:-}" ] || missing="$missing chromium"
command -v ffmpeg >/dev/null 2>&1 || missing="$missing ffmpeg"
[ -f /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || missing="$missing fonts-liberation"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "warning: missing system packages:$missing (install them with: sudo apt-get install$missing)" >&2
fi
