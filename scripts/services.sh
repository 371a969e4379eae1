#!/usr/bin/env bash
# Starts the local services the pipeline and its tests use, each only if it is
# not already answering: MariaDB on 127.0.0.1:3306, a private MariaDB at
# -05:00 on 127.0.0.1:3307 (for the time-zone tests) and the nisshi broker on
# 127.0.0.1:9092 (data in run/nisshi.db, so it survives a broker restart).
# Point the pipeline at other services through pipeline.toml and this script
# has nothing to do.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run_dir="$root/run"
mkdir -p "$run_dir"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() { # port name log
  for _ in $(seq 1 150); do
    port_open "$1" && return 0
    sleep 0.2
  done
  echo "error: $2 did not start listening on 127.0.0.1:$1 within 30 s${3:+; see $3}" >&2
  [ -n "${3:-}" ] && tail -n 20 "$3" >&2
  return 1
}

if port_open 3306; then
  echo "MariaDB: already running on 127.0.0.1:3306"
else
  echo "MariaDB: starting"
  if [ -x /usr/sbin/mariadbd ]; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  else
    service mariadb start || service mysql start
  fi
  wait_for_port 3306 MariaDB
fi

# A second, private MariaDB on 127.0.0.1:3307 whose clock is NOT UTC
# (--default-time-zone=-05:00): the time-zone tests run the pipeline against
# it with writers in other zones. Its own data directory under run/, root
# with an empty password (like the shared one), and a row-based binlog so
# binlog-mode work can use it too. Tests that need it skip with a message
# when it is not answering.
private_port=3307
if port_open "$private_port"; then
  echo "MariaDB (private, -05:00): already running on 127.0.0.1:$private_port"
elif ! command -v mariadb-install-db >/dev/null || [ ! -x /usr/sbin/mariadbd ]; then
  echo "MariaDB (private, -05:00): mariadb-install-db or /usr/sbin/mariadbd missing; the time-zone tests will skip"
else
  private_dir="$run_dir/mariadb-$private_port"
  if [ ! -d "$private_dir/mysql" ]; then
    echo "MariaDB (private, -05:00): creating $private_dir"
    mariadb-install-db --no-defaults --datadir="$private_dir" --user="$(id -un)" \
      --auth-root-authentication-method=normal --skip-test-db \
      >"$run_dir/mariadb-$private_port-install.log" 2>&1
  fi
  echo "MariaDB (private, -05:00): starting on 127.0.0.1:$private_port (log in $run_dir/mariadb-$private_port.log)"
  nohup /usr/sbin/mariadbd --no-defaults --datadir="$private_dir" --user="$(id -un)" \
    --bind-address=127.0.0.1 --port="$private_port" \
    --socket="$run_dir/mariadb-$private_port.sock" \
    --pid-file="$run_dir/mariadb-$private_port.pid" \
    --default-time-zone=-05:00 \
    --log-bin="$private_dir/binlog" --binlog-format=ROW --server-id="$private_port" \
    --innodb-buffer-pool-size=64M \
    >>"$run_dir/mariadb-$private_port.log" 2>&1 </dev/null &
  wait_for_port "$private_port" "MariaDB (private)" "$run_dir/mariadb-$private_port.log"
fi

# A nisshi whose working directory was deleted (a removed checkout that
# started it) has lost its storage from the filesystem: it still serves from
# the open file, but a restart could not reopen it. Replace it with one
# started from this checkout.
orphan=$(pgrep -xo nisshi || true)
if [ -n "$orphan" ] && readlink "/proc/$orphan/cwd" 2>/dev/null | grep -q ' (deleted)$'; then
  echo "Kafka broker: the running nisshi (pid $orphan) was started from a deleted directory; restarting it here"
  kill "$orphan" 2>/dev/null || true
  for _ in $(seq 1 150); do
    port_open 9092 || break
    sleep 0.2
  done
fi

# scripts/install.sh builds nisshi in the background on a fresh machine (the
# project builds meanwhile); wait for that build before starting the broker.
wait_for_nisshi_build() {
  local pid_file="$run_dir/nisshi-install.pid" pid
  [ -f "$pid_file" ] || return 0
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    echo "Kafka broker: waiting for the nisshi build (pid $pid, log $run_dir/nisshi-install.log)"
    while kill -0 "$pid" 2>/dev/null; do sleep 5; done
  fi
  rm -f "$pid_file"
}

if port_open 9092; then
  echo "Kafka broker: already running on 127.0.0.1:9092"
else
  export PATH="$HOME/.cargo/bin:$PATH"
  wait_for_nisshi_build
  if ! command -v nisshi >/dev/null; then
    echo "error: no broker on 127.0.0.1:9092 and nisshi is not installed; run scripts/install.sh" >&2
    [ -f "$run_dir/nisshi-install.log" ] && tail -n 20 "$run_dir/nisshi-install.log" >&2
    exit 1
  fi
  echo "Kafka broker: starting nisshi (data in $run_dir/nisshi.db, log in $run_dir/nisshi.log)"
  # nisshi listens on IPv4 only; clients must use 127.0.0.1, not localhost.
  # Its sqlite:// path is taken relative to the working directory even with a
  # leading slash (sqlite:///a/b opens ./a/b), hence the cd and relative path.
  cd "$root"
  nohup nisshi broker \
    --storage-engine "sqlite://run/nisshi.db" \
    --listener-url tcp://127.0.0.1:9092 \
    --advertised-listener-url tcp://127.0.0.1:9092 \
    --group-initial-rebalance-delay 1s \
    >>"$run_dir/nisshi.log" 2>&1 </dev/null &
  echo $! >"$run_dir/nisshi.pid"
  wait_for_port 9092 nisshi "$run_dir/nisshi.log"
fi
