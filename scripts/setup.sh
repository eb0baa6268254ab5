#!/usr/bin/env bash
# Install everything splitbrain and its tests need on a fresh Debian 12 machine,
# then build the Docker node image (from the host's own apt mirror: no registry).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(etcd-server etcd-client zookeeper debootstrap iptables iproute2 procps
      openssh-client openssh-server chromium chromium-driver faketime)

need_apt=0
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt=1
done
if [ "$need_apt" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: Debian packages missing; run as root or: sudo apt-get install ${PKGS[*]}" >&2
    exit 3
  fi
  echo "setup: installing Debian packages: ${PKGS[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
fi
# Debian's etcd-server and ssh may start services; splitbrain starts its own.
for svc in etcd ssh; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

PY=${PYTHON:-python3}
echo "setup: installing splitbrain (editable) with test extras"
$PY -m pip install -q --disable-pip-version-check -e ".[test]"

if docker info >/dev/null 2>&1; then
  echo "setup: building the node image if missing (first time: a few minutes)"
  $PY -m splitbrain.cli images build
else
  echo "setup: Docker is not reachable: skipping the node image (docker backend unavailable)" >&2
fi
