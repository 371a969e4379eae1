#!/usr/bin/env bash
# Starts the local services the pipeline and its tests use, each only if it is
# not already answering: MariaDB on 127.0.0.1:3306, a private MariaDB at
# -05:00 on 127.0.0.1:3307 (for the time-zone tests) and a Kafka broker on
# 127.0.0.1:9092. Nothing here assumes a server someone else started, and a
# server already answering on its port is left as it is. Point the pipeline
# at other services through pipeline.toml and this script has nothing to do.
#
# The broker is Apache Kafka (KRaft, one broker+controller, data in
# run/kafka-9092, log run/kafka.log; jars installed by scripts/kafka.sh) where
# Java 17 is installed, else nisshi. PIPELINE_BROKER=nisshi or =kafka chooses.
# For nisshi, PIPELINE_BROKER_ENGINE picks its storage (a nisshi
# --storage-engine URL; default SQLite in run/nisshi.db), e.g. PostgreSQL
# (its database is created if missing, PostgreSQL started if installed):
#   PIPELINE_BROKER=nisshi PIPELINE_BROKER_ENGINE='postgres://postgres@127.0.0.1:5432/nisshi?sslmode=disable' scripts/services.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run_dir="$root/run"
mkdir -p "$run_dir"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() { # port name log
  for _ in $(seq 1 300); do
    port_open "$1" && return 0
    sleep 0.2
  done
  echo "error: $2 did not start listening on 127.0.0.1:$1 within 60 s${3:+; see $3}" >&2
  [ -n "${3:-}" ] && tail -n 20 "$3" >&2
  return 1
}

# MariaDB on 127.0.0.1:3306: Debian's server (scripts/install.sh installs it),
# started through its init script, which runs it as the mysql user.
start_shared_mariadb() {
  if [ -x /etc/init.d/mariadb ]; then
    service mariadb start >/dev/null
  elif [ -x /usr/sbin/mariadbd ]; then
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  else
    echo "error: no MariaDB on 127.0.0.1:3306 and none installed; run scripts/install.sh (it installs Debian's mariadb-server)" >&2
    exit 1
  fi
}

# A server this script started is a local development server: its root logs
# in from 127.0.0.1 with an empty password, as pipeline.toml and the tests
# expect. Debian's package lets root in through the socket only; change that
# once, and say so. A server someone else started is never changed.
open_root_login() {
  command -v mariadb >/dev/null || return 0
  mariadb -uroot -h127.0.0.1 -e 'SELECT 1' >/dev/null 2>&1 && return 0
  if mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" 2>/dev/null; then
    echo "MariaDB: root may now log in from 127.0.0.1 with an empty password (a local development server)"
  else
    echo "warning: MariaDB's root cannot log in from 127.0.0.1 with an empty password; set [mysql] url in pipeline.toml" >&2
  fi
}

if port_open 3306; then
  echo "MariaDB: already running on 127.0.0.1:3306"
else
  echo "MariaDB: starting"
  start_shared_mariadb
  wait_for_port 3306 MariaDB /var/log/mysql/error.log
  open_root_login
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

# The pid of the process listening on 127.0.0.1:$1 (its socket's inode in
# /proc/net/tcp*, then the process holding it), not "the oldest nisshi":
# other checkouts and tests run brokers of their own on other ports.
listener_pid() {
  local hex inode fd
  if command -v ss >/dev/null; then
    ss -Hltnp "sport = :$1" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2 | grep .
    return
  fi
  hex=$(printf ':%04X' "$1")
  for inode in $(awk -v port="$hex" '$4 == "0A" && substr($2, length($2) - 4) == port { print $10 }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    for fd in /proc/[0-9]*/fd/*; do
      if [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ]; then
        fd=${fd#/proc/}
        echo "${fd%%/*}"
        return 0
      fi
    done
  done
  return 1
}

broker_port=9092

# Which broker this script starts: PIPELINE_BROKER, else Apache Kafka where
# Java 17 or newer is installed, else nisshi.
default_broker() {
  local major
  major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
  if [ -n "$major" ] && [ "$major" -ge 17 ]; then echo kafka; else echo nisshi; fi
}
broker_kind=${PIPELINE_BROKER:-$(default_broker)}
case "$broker_kind" in
kafka | nisshi) ;;
*)
  echo "error: PIPELINE_BROKER=$broker_kind: use kafka or nisshi" >&2
  exit 2
  ;;
esac

# What the process on the broker port is: kafka, nisshi or other.
broker_process_kind() { # pid
  local exe
  exe=$(basename "$(readlink "/proc/$1/exe" 2>/dev/null)")
  if [ "$exe" = nisshi ]; then
    echo nisshi
  elif tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qx kafka.Kafka; then
    echo kafka
  else
    echo other
  fi
}

# A broker whose working directory was deleted (a removed checkout that
# started it) has lost its storage from the filesystem: it still serves
# from open files, but a restart could not reopen them. Replace it with one
# started from this checkout.
orphan=$(listener_pid "$broker_port" || true)
if [ -n "$orphan" ] && [ "$(broker_process_kind "$orphan")" != other ] &&
  readlink "/proc/$orphan/cwd" 2>/dev/null | grep -q ' (deleted)$'; then
  echo "Kafka broker: the running $(broker_process_kind "$orphan") (pid $orphan) was started from a deleted directory; restarting it here"
  kill "$orphan" 2>/dev/null || true
  for _ in $(seq 1 300); do
    port_open "$broker_port" || break
    sleep 0.2
  done
fi

# Apache Kafka on 127.0.0.1:9092 (controller on 9093): formatted once with a
# cluster id of its own, then started detached with a bounded heap.
start_kafka() {
  local dir="$run_dir/kafka-$broker_port" cluster_id
  "$root/scripts/kafka.sh" install
  "$root/scripts/kafka.sh" single "$dir" "$broker_port"
  if [ ! -f "$dir/data/meta.properties" ]; then
    [ -s "$dir/cluster.id" ] || "$root/scripts/kafka.sh" uuid >"$dir/cluster.id"
    cluster_id=$(cat "$dir/cluster.id")
    echo "Kafka broker: formatting $dir/data (cluster $cluster_id)"
    "$root/scripts/kafka.sh" format "$dir" "$cluster_id" --standalone
  fi
  echo "Kafka broker: starting Apache Kafka on 127.0.0.1:$broker_port (data in $dir, log in $run_dir/kafka.log)"
  cd "$root"
  nohup setsid "$root/scripts/kafka.sh" run "$dir" >>"$run_dir/kafka.log" 2>&1 </dev/null &
  echo $! >"$run_dir/kafka.pid"
  wait_for_port "$broker_port" "Apache Kafka" "$run_dir/kafka.log"
}

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

# The broker's storage: SQLite unless PIPELINE_BROKER_ENGINE says otherwise.
broker_engine=${PIPELINE_BROKER_ENGINE:-sqlite://run/nisshi.db}

# Creates the database a postgres:// engine URL names, if missing.
ensure_postgres_database() { # url
  local url=$1 server database exists
  database=${url##*/}
  database=${database%%\?*}
  server=${url%/*}
  if ! command -v psql >/dev/null; then
    echo "error: the broker's storage is PostgreSQL ($url) but psql is missing to create its database;" \
      "install postgresql-client, or use SQLite (unset PIPELINE_BROKER_ENGINE)" >&2
    return 1
  fi
  for _ in $(seq 1 150); do
    psql "$server/postgres" -tAc 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.2
  done
  exists=$(psql "$server/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'") || {
    echo "error: PostgreSQL at $server does not answer; start it, or use SQLite (unset PIPELINE_BROKER_ENGINE)" >&2
    return 1
  }
  if [ "$exists" != 1 ]; then
    echo "PostgreSQL: creating database $database for the broker"
    # Another start may create it meanwhile: only a database still missing is an error.
    psql "$server/postgres" -qc "CREATE DATABASE \"$database\"" 2>/dev/null ||
      [ "$(psql "$server/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'")" = 1 ]
  fi
}

if port_open "$broker_port"; then
  running=$(listener_pid "$broker_port" || true)
  running_kind=$([ -n "$running" ] && broker_process_kind "$running" || echo other)
  running_engine=$([ "$running_kind" = nisshi ] && tr '\0' '\n' <"/proc/$running/cmdline" 2>/dev/null |
    sed -n '/^--storage-engine$/{n;p;q}' || true)
  case "$running_kind" in
  kafka) echo "Kafka broker: Apache Kafka already running on 127.0.0.1:$broker_port" ;;
  nisshi) echo "Kafka broker: nisshi already running on 127.0.0.1:$broker_port${running_engine:+ (storage $running_engine)}" ;;
  *) echo "Kafka broker: already running on 127.0.0.1:$broker_port" ;;
  esac
  if [ "$running_kind" != other ] && [ "$running_kind" != "$broker_kind" ]; then
    echo "Kafka broker: left as it is; this script would start $broker_kind (to switch: just stop-services, then run this again)"
  elif [ -n "$running_engine" ] && [ "$running_engine" != "$broker_engine" ]; then
    echo "Kafka broker: left as it is; this script would start it on $broker_engine" \
      "(to switch: just stop-services, then run this again; the new storage starts empty)"
  fi
elif [ "$broker_kind" = kafka ]; then
  start_kafka
else
  export PATH="$HOME/.cargo/bin:$PATH"
  wait_for_nisshi_build
  if ! command -v nisshi >/dev/null; then
    echo "error: no broker on 127.0.0.1:$broker_port and nisshi is not installed; run scripts/install.sh" >&2
    [ -f "$run_dir/nisshi-install.log" ] && tail -n 20 "$run_dir/nisshi-install.log" >&2
    exit 1
  fi
  case "$broker_engine" in
  postgres://* | postgresql://*)
    pg_port=${broker_engine#*://}
    pg_port=${pg_port#*@}
    pg_port=${pg_port%%/*}
    pg_port=${pg_port##*:}
    if ! port_open "${pg_port:-5432}" && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      echo "PostgreSQL: starting"
      # The machine's cluster; if the URL names another server, the check below says so.
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | tail -n 1)" main start || true
    fi
    ensure_postgres_database "$broker_engine"
    ;;
  esac
  echo "Kafka broker: starting nisshi (storage $broker_engine, log in $run_dir/nisshi.log)"
  # nisshi listens on IPv4 only; clients must use 127.0.0.1, not localhost.
  # Its sqlite:// path is taken relative to the working directory even with a
  # leading slash (sqlite:///a/b opens ./a/b), hence the cd and relative path.
  cd "$root"
  nohup nisshi broker \
    --storage-engine "$broker_engine" \
    --listener-url "tcp://127.0.0.1:$broker_port" \
    --advertised-listener-url "tcp://127.0.0.1:$broker_port" \
    --group-initial-rebalance-delay 1s \
    >>"$run_dir/nisshi.log" 2>&1 </dev/null &
  echo $! >"$run_dir/nisshi.pid"
  wait_for_port "$broker_port" nisshi "$run_dir/nisshi.log"
fi
