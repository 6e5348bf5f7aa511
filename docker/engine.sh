#!/usr/bin/env bash
# Start or stop a Docker engine for the docker runner and its tests, on a machine without a
# service manager (a CI container, a bare VM): Debian's docker.io, `dockerd` run as root with
# overlay2 storage. Idempotent: `start` leaves an engine that already answers alone, and
# `stop` stops only an engine this script started.
#
#   sudo bash docker/engine.sh start    # wait until it answers; on failure print its log
#   sudo bash docker/engine.sh stop
#   bash docker/engine.sh status        # exit status 0 if an engine answers
#
# Its state (pid file, log) is kept in $DOCKER_ENGINE_DIR (default /var/run/forget-benchmarks).
set -euo pipefail

STATE=${DOCKER_ENGINE_DIR:-/var/run/forget-benchmarks}
PIDFILE=$STATE/dockerd.pid
LOG=$STATE/dockerd.log
WAIT=60  # seconds for the engine to answer

answers() { docker info >/dev/null 2>&1; }

start() {
  if answers; then
    echo "a Docker engine answers already: using it"
    return 0
  fi
  [[ $(id -u) == 0 ]] || { echo "dockerd must be started as root" >&2; return 1; }
  command -v dockerd >/dev/null || {
    echo "dockerd is missing: apt-get install docker.io" >&2; return 1; }
  mkdir -p "$STATE"
  setsid dockerd --storage-driver=overlay2 --pidfile="$PIDFILE.dockerd" \
    </dev/null >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for ((i = 0; i < WAIT * 2; i++)); do
    if answers; then
      echo "dockerd started (pid $(cat "$PIDFILE"), log $LOG)"
      return 0
    fi
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
    sleep 0.5
  done
  echo "dockerd did not start; the end of its log ($LOG):" >&2
  tail -n 20 "$LOG" >&2
  stop >/dev/null 2>&1 || true
  return 1
}

stop() {
  [[ -f $PIDFILE ]] || { echo "no engine started by this script: nothing to stop"; return 0; }
  local pid
  pid=$(cat "$PIDFILE")
  if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]]; then  # not a reused pid
    kill -TERM "$pid"
    for ((i = 0; i < 60; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then  # its whole session: containerd with it
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" || true
    fi
  fi
  rm -f "$PIDFILE"
  echo "dockerd stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) answers ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
