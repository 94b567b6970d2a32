#!/usr/bin/env bash
# Installs the system tools the end-to-end tests need, when missing:
#   redis-server (the tests start their own, on free loopback ports)
#   sipp         (Debian package sip-tester; the SIP callers and callees)
#   openssl      (certificates for the Redis TLS test)
#   dnsmasq      (Debian package dnsmasq-base; the DNS server of the DNS-target tests, on free loopback ports)
#   ss           (Debian package iproute2; reads drachtio-server's SIP socket buffers in test/emulator/udp-buffer.test.ts)
# Non-interactive; works as root without sudo (CI), or with sudo when not root.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
{ command -v dnsmasq || [ -x /usr/sbin/dnsmasq ]; } >/dev/null 2>&1 || need+=(dnsmasq-base)
command -v ss >/dev/null 2>&1 || need+=(iproute2)

if [ "${#need[@]}" -eq 0 ]; then
  echo "setup: redis-server, sipp, openssl, dnsmasq and ss already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup: need root (or sudo) to install: ${need[*]}" >&2
    exit 1
  fi
fi

echo "setup: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"

# The redis-server package may start a system instance on 6379; the tests never use it.
command -v redis-server >/dev/null 2>&1
command -v sipp >/dev/null 2>&1
echo "setup: done ($(redis-server --version | cut -d' ' -f1-3); $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1))"
