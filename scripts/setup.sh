#!/usr/bin/env bash
# Install everything splitbrain and its tests need on a fresh Debian 12 machine:
# the Debian packages, a virtualenv (.venv, or $VENV) with splitbrain and its test
# extras, and the Docker node image (built from the host's own apt mirror: no
# registry). With SPLITBRAIN_FRESH_VENV=1 (CI) the virtualenv is made anew, so a
# dependency that is used but not declared fails here, not on a user's machine.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(etcd-server etcd-client zookeeper debootstrap iptables iproute2 procps
      openssh-client openssh-server chromium chromium-driver faketime python3-venv)

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
VENV=${VENV:-.venv}
if [ "${SPLITBRAIN_FRESH_VENV:-0}" = 1 ] || [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating a fresh virtualenv in $VENV"
  "$PY" -m venv --clear "$VENV"
fi
echo "setup: installing splitbrain with every extra (docker, ssh, test, lint) into $VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[docker,ssh,test,lint]"

if docker info >/dev/null 2>&1; then
  echo "setup: building the node image if missing (first time: a few minutes)"
  "$VENV/bin/splitbrain" images build
else
  echo "setup: Docker is not reachable: skipping the node image (docker backend unavailable)" >&2
fi
