#!/usr/bin/env bash
# A Python 3.11 base image made from Debian packages, for machines that cannot pull
# python:3.11-slim (no registry): debootstrap Debian 12 "bookworm" (its python3 is 3.11) from
# the Debian mirror apt is configured with, then `docker import`. Idempotent: an image that
# exists is kept (--force makes it again). Needs root, debootstrap and a running engine.
#
#   bash docker/make-python-base.sh [--force] [IMAGE]   # IMAGE: forget-benchmarks-python:3.11
#   python install.py --base-image forget-benchmarks-python:3.11
#
# DEBIAN_MIRROR overrides the mirror (default: the first bookworm entry of apt's sources,
# else http://deb.debian.org/debian).
set -euo pipefail

SUITE=bookworm
PACKAGES=python3,python3-venv
IMAGE=forget-benchmarks-python:3.11
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "unknown option $arg (see --help)" >&2; exit 2 ;;
    *) IMAGE=$arg ;;
  esac
done

# The URI of apt's first non-security source for $SUITE (deb822 .sources, then sources.list).
apt_mirror() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$file" ]] || continue
    awk -v suite="$SUITE" '
      function flush() { if (uri != "" && found && uri !~ /security/) { print uri; exit } uri = ""; found = 0 }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
      END { flush() }' "$file"
  done | head -n 1
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$file" ]] || continue
    awk -v suite="$SUITE" '$1 == "deb" {
      sub(/\[[^]]*\][[:space:]]*/, ""); if ($3 == suite && $2 !~ /security/) print $2 }' "$file"
  done | head -n 1
}

if [[ $FORCE == 0 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE exists: kept (--force makes it again)"
  exit 0
fi
[[ $(id -u) == 0 ]] || { echo "debootstrap needs root: run this as root" >&2; exit 1; }
command -v debootstrap >/dev/null || {
  echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }

MIRROR=${DEBIAN_MIRROR:-$(apt_mirror | head -n 1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOTFS=$(mktemp -d /var/tmp/python-base.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

echo "debootstrap $SUITE ($PACKAGES) from $MIRROR ..."
start=$SECONDS
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" \
  >"$ROOTFS.log" 2>&1 || { tail -n 30 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/tmp/*

echo "docker import -> $IMAGE ..."
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --change "LABEL org.opencontainers.image.description=\"Debian $SUITE with $PACKAGES, from $MIRROR\"" \
  - "$IMAGE" >/dev/null
docker run --rm --network none "$IMAGE" python3 -c \
  'import sys, venv; assert sys.version_info[:2] == (3, 11), sys.version'
echo "$IMAGE: Python 3.11 from Debian packages, made in $((SECONDS - start)) s"
