#!/usr/bin/env bash
# Installs the Debian tools the suite runs when they are missing, so a fresh
# machine needs nothing by hand: `prometheus` (the server and promtool) for
# the tests of deploy/monitoring. Idempotent; `apt-get update` runs only when
# apt does not know the package yet.
#
# Debian's postinst starts the packaged service (invoke-rc.d, or
# deb-systemd-invoke under systemd). The tests start their own server on
# 127.0.0.1, so the install runs under a policy-rc.d that denies service
# starts, and a packaged service found running afterwards is stopped.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_prometheus() {
  if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then return 0; fi
  echo "ensure-tools: installing prometheus from Debian" >&2
  if ! apt-cache show prometheus >/dev/null 2>&1; then as_root apt-get update -qq; fi
  local policy=/usr/sbin/policy-rc.d added=0 status=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# installed by scripts/ensure-tools.sh for one apt-get install\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    added=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null || status=$?
  if [ "$added" -eq 1 ]; then as_root rm -f "$policy"; fi
  if [ -d /run/systemd/system ]; then
    as_root systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [ -s /run/prometheus/prometheus.pid ] && kill -0 "$(cat /run/prometheus/prometheus.pid)" 2>/dev/null; then
    as_root /etc/init.d/prometheus stop >/dev/null
  fi
  return "$status"
}

ensure_prometheus
