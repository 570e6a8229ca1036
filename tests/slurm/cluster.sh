#!/usr/bin/env bash
# A real two-node Slurm cluster on one machine, for tinyscale's tests and for
# trying profiles/slurm on a laptop.
#
#   cluster.sh install      apt-get the Slurm, munge and MariaDB packages (if missing)
#   cluster.sh start DIR    write the configs under DIR and start every daemon
#   cluster.sh stop DIR     stop the daemons recorded by the pid files under DIR
#   cluster.sh status DIR   sinfo and the accounts
#
# Needs root on a disposable Debian/Ubuntu machine: munged listens on the
# system-wide socket /run/munge/munge.socket.2 and /etc/slurm/slurm.conf is
# made a symlink to DIR/etc/slurm.conf (see check_etc_link for why).
#
# Layout of DIR:
#   etc/    slurm.conf, slurmdbd.conf (mode 600), munge.key, db.password
#   run/    every pid file, the MariaDB socket
#   log/    every daemon's log
#   state/  slurmctld's StateSaveLocation
#   spool/  one SlurmdSpoolDir per node (spool/n1, spool/n2)
#   db/     the MariaDB data directory
#   env.sh  `source DIR/env.sh` to point the Slurm commands at this cluster
set -euo pipefail

# ---- names and ports --------------------------------------------------------
CLUSTER=tinyscale
ACCOUNT=ci
PARTITION=debug
NODES=(n1 n2)
CTLD_PORT=16817           # slurmctld
declare -A NODE_PORT=([n1]=16818 [n2]=16820)
DBD_PORT=16819            # slurmdbd
DB_PORT=${TINYSLURM_DB_PORT:-3306}   # mariadbd (TCP on 127.0.0.1 only)
WAIT_S=${TINYSLURM_WAIT_S:-90}       # bound on every wait below

PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
BINARIES=(slurmctld slurmd slurmdbd sbatch srun sinfo sacct sacctmgr scontrol
          munged mungekey munge unmunge mariadbd mariadb mariadb-admin mariadb-install-db)

MUNGE_SOCKET_DIR=/run/munge          # munged's default; sacctmgr only looks there
ETC_SLURM_CONF=/etc/slurm/slurm.conf # where srun looks when SLURM_CONF is stripped
MARKER="# written by tinyscale tests/slurm/cluster.sh"

# ---- helpers ----------------------------------------------------------------
die() { echo "cluster.sh: error: $*" >&2; exit 1; }
say() { echo "cluster.sh: $*"; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (it starts system daemons)"; }

# the binaries that are not installed, on one line
missing_binaries() {
  local b missing=()
  for b in "${BINARIES[@]}"; do command -v "$b" >/dev/null 2>&1 || missing+=("$b"); done
  echo "${missing[*]}"
}

# pid recorded in pid file $1, if that process is alive and is the daemon the
# file is named after (slurmd-n1.pid -> slurmd), so a reused pid is never taken
live_pid() {
  local pid name
  [[ -s $1 ]] || return 1
  pid=$(tr -dc '0-9' <"$1")
  name=$(basename "$1" .pid)
  name=${name%%-*}
  [[ -n $pid ]] && running "$pid" || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 1
  echo "$pid"
}

# true while process $1 exists and one of its threads is not a zombie (a dead
# daemon can stay a zombie a while where init reaps slowly, as in containers)
running() {
  local t
  kill -0 "$1" 2>/dev/null || return 1
  for t in /proc/"$1"/task/*/stat; do
    [[ $(awk '{print $3}' "$t" 2>/dev/null) == Z ]] || return 0
  done
  return 1
}

# print the last lines of every log under DIR (for error messages)
log_tails() {
  local f
  for f in "$DIR"/log/*.log; do
    [[ -e $f ]] || continue
    echo "---- tail of $f" >&2
    tail -n 10 "$f" >&2 || true
  done
}

# fail with the logs' tails
fail() { echo "cluster.sh: error: $*" >&2; log_tails; exit 1; }

# wait_for WHAT PIDFILE_OR_EMPTY CMD...: run CMD until it succeeds, at most
# WAIT_S seconds; fail early if the daemon behind PIDFILE died.
wait_for() {
  local what=$1 pidfile=$2 i
  shift 2
  for ((i = 0; i < WAIT_S * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [[ -n $pidfile && $i -ge 4 ]] && ! live_pid "$pidfile" >/dev/null; then
      fail "$what died while starting"
    fi
    sleep 0.5
  done
  fail "$what not ready after ${WAIT_S}s"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# all pid files a started cluster has, in stop order
pid_files() {
  local n
  for n in "${NODES[@]}"; do echo "$DIR/run/slurmd-$n.pid"; done
  echo "$DIR/run/slurmctld.pid"
  echo "$DIR/run/slurmdbd.pid"
  echo "$DIR/run/mariadbd.pid"
  echo "$DIR/run/munged.pid"
}

set_dir() {
  [[ -n ${1:-} ]] || die "missing DIR argument"
  DIR=$(realpath -m -- "$1")
  export SLURM_CONF=$DIR/etc/slurm.conf
}

# ---- install ----------------------------------------------------------------
install_packages() {
  need_root
  local missing
  missing=$(missing_binaries)
  if [[ -z $missing ]]; then
    say "packages already installed"
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Keep apt from starting the packages' own munge/mariadb/slurm services:
  # they would take /run/munge and port 3306 before `start` does.  Only when the
  # machine has no policy-rc.d of its own; ours is removed afterwards.
  local policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n%s\nexit 101\n' "$MARKER" >"$policy"
    chmod 755 "$policy"
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # `apt-get update` only when the package lists do not know a package yet
  if ! apt-cache show "${PACKAGES[@]}" >/dev/null 2>&1; then
    apt-get update
  fi
  apt-get install -y --no-install-recommends "${PACKAGES[@]}"
  missing=$(missing_binaries)
  [[ -z $missing ]] || die "still missing after install: $missing"
  say "installed: ${PACKAGES[*]}"
}

# ---- configuration files ----------------------------------------------------
write_slurm_conf() {
  local host n
  host=$(hostname -s)
  {
    echo "$MARKER"
    cat <<EOF
ClusterName=$CLUSTER
# the address pins slurmctld to loopback whatever the hostname resolves to
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=600
ReturnToService=2
KillWait=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$DIR/state
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
# %n is the node name that slurmd -N gets
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmdSpoolDir=$DIR/spool/%n
SlurmdLogFile=$DIR/log/slurmd-%n.log
EOF
    for n in "${NODES[@]}"; do
      echo "NodeName=$n NodeHostname=$host NodeAddr=127.0.0.1 Port=${NODE_PORT[$n]} CPUs=2 RealMemory=8000 State=UNKNOWN"
    done
    echo "PartitionName=$PARTITION Nodes=$(IFS=,; echo "${NODES[*]}") Default=YES MaxTime=INFINITE State=UP"
  } >"$DIR/etc/slurm.conf"
  chmod 644 "$DIR/etc/slurm.conf"
}

write_slurmdbd_conf() {
  (
    umask 077
    cat >"$DIR/etc/slurmdbd.conf" <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
# 127.0.0.1, not localhost: "localhost" makes the client use the default socket
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
  )
  chmod 600 "$DIR/etc/slurmdbd.conf"
}

write_env_sh() {
  cat >"$DIR/env.sh" <<EOF
# source this file to use the tinyscale test cluster in $DIR
export SLURM_CONF=$DIR/etc/slurm.conf
EOF
}

# /etc/slurm/slurm.conf -> DIR/etc/slurm.conf.  Snakemake's slurm jobstep
# plugin strips SLURM_* (SLURM_CONF too) inside jobs, so `srun` there only finds
# the default path.  Refuse to replace anything this script did not write.
check_etc_link() {
  local target
  if [[ -L $ETC_SLURM_CONF ]]; then
    target=$(readlink -f "$ETC_SLURM_CONF" || true)
    [[ $target == "$DIR/etc/slurm.conf" ]] && return 0
    if [[ -e $target ]] && ! grep -qxF "$MARKER" "$target"; then
      die "$ETC_SLURM_CONF links to $target, which this script did not write; remove it yourself"
    fi
    local other
    other=$(dirname "$(dirname "$target")")
    if [[ -e $target ]] && live_pid "$other/run/slurmctld.pid" >/dev/null; then
      die "another test cluster runs from $other; run: $0 stop $other"
    fi
  elif [[ -e $ETC_SLURM_CONF ]]; then
    die "$ETC_SLURM_CONF is a regular file this script did not create; move it away to use the test cluster"
  fi
}

link_etc() {
  mkdir -p "$(dirname "$ETC_SLURM_CONF")"
  ln -sfn "$DIR/etc/slurm.conf" "$ETC_SLURM_CONF"
}

unlink_etc() {
  if [[ -L $ETC_SLURM_CONF && $(readlink "$ETC_SLURM_CONF") == "$DIR/etc/slurm.conf" ]]; then
    rm -f "$ETC_SLURM_CONF"
  fi
}

# ---- daemons ----------------------------------------------------------------
start_munged() {
  local key=$DIR/etc/munge.key
  [[ -s $key ]] || mungekey -c -f -k "$key"
  chmod 600 "$key"
  mkdir -p "$MUNGE_SOCKET_DIR"
  chmod 755 "$MUNGE_SOCKET_DIR"
  # no --force: with it munged would take the socket from a munged that runs
  # already (the machine's own), which then fails its clients
  munged --key-file="$key" --pid-file="$DIR/run/munged.pid" \
    --log-file="$DIR/log/munged.log" --seed-file="$DIR/run/munged.seed" \
    || fail "munged did not start (another munged on $MUNGE_SOCKET_DIR? see its log)"
  wait_for munged "$DIR/run/munged.pid" bash -c 'munge -n | unmunge'
}

db_sql() { mariadb --no-defaults --socket="$DIR/run/mariadb.sock" -uroot -e "$1"; }

start_mariadb() {
  if [[ ! -d $DIR/db/mysql ]]; then
    mariadb-install-db --no-defaults --user=root --datadir="$DIR/db" \
      --skip-test-db >"$DIR/log/mariadb-install.log" 2>&1 \
      || fail "mariadb-install-db failed (see $DIR/log/mariadb-install.log)"
  fi
  # setsid: its own session, so the caller's Ctrl-C does not reach it;
  # no fork, so $! is mariadbd itself and matches its pid file.
  setsid mariadbd --no-defaults --user=root --datadir="$DIR/db" \
    --socket="$DIR/run/mariadb.sock" --bind-address=127.0.0.1 --port="$DB_PORT" \
    --pid-file="$DIR/run/mariadbd.pid" --log-error="$DIR/log/mariadb.log" \
    </dev/null >>"$DIR/log/mariadb.log" 2>&1 &
  echo $! >"$DIR/run/mariadbd.pid"
  wait_for mariadbd "$DIR/run/mariadbd.pid" \
    mariadb-admin --no-defaults --socket="$DIR/run/mariadb.sock" -uroot ping
  local u
  for u in "'slurm'@'127.0.0.1'" "'slurm'@'localhost'"; do
    db_sql "CREATE USER IF NOT EXISTS $u IDENTIFIED BY '$DB_PASS';
            ALTER USER $u IDENTIFIED BY '$DB_PASS';
            GRANT ALL ON slurm_acct_db.* TO $u;" || fail "could not create the DB user slurm"
  done
}

start_slurmdbd() {
  slurmdbd || fail "slurmdbd did not start"
  wait_for slurmdbd "$DIR/run/slurmdbd.pid" sacctmgr -n show cluster
}

# ensure_acct "show ARGS" "add ARGS": add an accounting entity unless
# `sacctmgr show` already lists it (the words of ARGS hold no spaces)
ensure_acct() {
  local show add
  read -ra show <<<"$1"
  read -ra add <<<"$2"
  if [[ -z $(sacctmgr -n -P "${show[@]}" 2>/dev/null) ]]; then
    sacctmgr -i "${add[@]}" >/dev/null || fail "sacctmgr $2 failed"
  fi
}

start_slurm() {
  ensure_acct "show cluster $CLUSTER format=cluster" "add cluster $CLUSTER"
  ensure_acct "show account $ACCOUNT format=account" "add account $ACCOUNT cluster=$CLUSTER description=tinyscale-tests organization=tinyscale"
  ensure_acct "show assoc cluster=$CLUSTER account=$ACCOUNT user=root format=user" "add user root account=$ACCOUNT cluster=$CLUSTER"
  # root starts with the account "root"; make jobs without -A land in $ACCOUNT
  if [[ $(sacctmgr -n -P show user root format=defaultaccount) != "$ACCOUNT" ]]; then
    sacctmgr -i modify user root set defaultaccount="$ACCOUNT" >/dev/null \
      || fail "could not make $ACCOUNT root's default account"
  fi

  slurmctld || fail "slurmctld did not start"
  wait_for slurmctld "$DIR/run/slurmctld.pid" scontrol ping
  local n
  for n in "${NODES[@]}"; do
    mkdir -p "$DIR/spool/$n"
    slurmd -N "$n" || fail "slurmd -N $n did not start"
  done
  wait_for "nodes ${NODES[*]} (idle in sinfo)" "" nodes_idle
  # both slurmd must still be running (not only registered)
  for n in "${NODES[@]}"; do live_pid "$DIR/run/slurmd-$n.pid" >/dev/null || fail "slurmd $n died"; done
}

nodes_idle() {
  local states
  states=$(sinfo -h -N -p "$PARTITION" -o '%N %t' | sort -u)
  [[ $states == "$(printf '%s idle\n' "${NODES[@]}")" ]]
}

start_cluster() {
  need_root
  local missing
  missing=$(missing_binaries)
  [[ -z $missing ]] || die "missing $missing; run: $0 install"

  # A second start: a no-op when everything runs, an error when only part does.
  local f alive=0 total=0
  while read -r f; do
    total=$((total + 1))
    if live_pid "$f" >/dev/null; then alive=$((alive + 1)); fi
  done < <(pid_files)
  if ((alive == total)); then
    say "already running in $DIR"
    return 0
  elif ((alive > 0)); then
    die "only $alive of $total daemons run in $DIR; run: $0 stop $DIR, then start again"
  fi

  check_etc_link
  local p
  for p in "$CTLD_PORT" "${NODE_PORT[@]}" "$DBD_PORT" "$DB_PORT"; do
    port_free "$p" || die "port $p on 127.0.0.1 is in use by another program"
  done

  mkdir -p "$DIR"/{etc,run,log,state,spool,db}
  # keep the previous run's logs apart, so an error shows this run's lines only
  if compgen -G "$DIR/log/*.log" >/dev/null; then
    mkdir -p "$DIR/log/previous"
    mv -f "$DIR"/log/*.log "$DIR/log/previous/"
  fi
  chmod 755 "$DIR" "$DIR"/{etc,run,log,state,spool}
  chmod 700 "$DIR/db"
  # one DB password per DIR, kept so a restart reuses the same database
  if [[ ! -s $DIR/etc/db.password ]]; then
    (umask 077; od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$DIR/etc/db.password")
  fi
  DB_PASS=$(cat "$DIR/etc/db.password")
  write_slurm_conf
  write_slurmdbd_conf
  write_env_sh
  link_etc

  # a failure part way leaves daemons; stop them so the next start is clean
  trap 'echo "cluster.sh: start failed; stopping what was started" >&2; stop_cluster >&2 || true' EXIT
  start_munged
  start_mariadb
  start_slurmdbd
  start_slurm
  trap - EXIT
  say "cluster $CLUSTER is up: nodes ${NODES[*]}, partition $PARTITION, account $ACCOUNT"
  say "use it with: source $DIR/env.sh"
}

# ---- stop -------------------------------------------------------------------
# stop_group PIDFILE...: SIGTERM those daemons together, wait for them (bounded),
# then SIGKILL what is left
stop_group() {
  local f pid pids=() i
  for f in "$@"; do
    if pid=$(live_pid "$f"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  for ((i = 0; i < WAIT_S * 2; i++)); do
    local alive=()
    for pid in ${pids[@]+"${pids[@]}"}; do
      if running "$pid"; then alive+=("$pid"); fi
    done
    pids=(${alive[@]+"${alive[@]}"})
    ((${#pids[@]} == 0)) && break
    sleep 0.5
  done
  for pid in ${pids[@]+"${pids[@]}"}; do
    echo "cluster.sh: pid $pid ignored SIGTERM for ${WAIT_S}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$@"
}

# cancel every job first: a stopped slurmd leaves its jobs' slurmstepd running
cancel_jobs() {
  live_pid "$DIR/run/slurmctld.pid" >/dev/null || return 0
  local jobs i
  jobs=$(squeue -h -o %A 2>/dev/null || true)
  [[ -n $jobs ]] || return 0
  # shellcheck disable=SC2086
  scancel $jobs 2>/dev/null || true
  for ((i = 0; i < WAIT_S * 2; i++)); do
    [[ -z $(squeue -h -o %A 2>/dev/null) ]] && return 0
    sleep 0.5
  done
  echo "cluster.sh: jobs still in the queue after ${WAIT_S}s: $(squeue -h -o %A | tr '\n' ' ')" >&2
}

stop_cluster() {
  [[ -d $DIR ]] || { say "nothing at $DIR"; return 0; }
  local n slurmd_pids=()
  for n in "${NODES[@]}"; do slurmd_pids+=("$DIR/run/slurmd-$n.pid"); done
  cancel_jobs
  # in order: nodes, controller (it flushes accounting to slurmdbd), slurmdbd,
  # then its database and munge
  stop_group "${slurmd_pids[@]}"
  stop_group "$DIR/run/slurmctld.pid"
  stop_group "$DIR/run/slurmdbd.pid"
  stop_group "$DIR/run/mariadbd.pid" "$DIR/run/munged.pid"
  unlink_etc
  say "stopped the cluster in $DIR"
}

status_cluster() {
  [[ -e $SLURM_CONF ]] || die "no cluster configured in $DIR"
  sinfo
  sacctmgr show account
}

# ---- main -------------------------------------------------------------------
case "${1:-}" in
  install) install_packages ;;
  start)   set_dir "${2:-}"; start_cluster ;;
  stop)    need_root; set_dir "${2:-}"; stop_cluster ;;
  status)  set_dir "${2:-}"; status_cluster ;;
  *) echo "usage: $0 install | start DIR | stop DIR | status DIR" >&2; exit 2 ;;
esac
