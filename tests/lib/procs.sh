# shellcheck shell=bash
# Process-group helpers for test scripts (bash; source it: `. tests/lib/procs.sh`).
#
#   start_group LOG CMD [ARG...]   runs CMD in a new session and process group (setsid), its
#                                  output to LOG; sets START_GROUP_PID (= its pgid)
#   group_pids PGID                the live (not zombie) processes of the group, one a line
#   stop_group PGID [GRACE]        SIGTERM to the group, up to GRACE seconds (default 10)
#                                  for all of it to end, then SIGKILL to what is left;
#                                  returns non-zero if anything survives that
#   assert_no_strays PATTERN       fails (listing them) if a process's command line
#                                  matches PATTERN (pgrep -f)
#
# Why a group: `spin up` runs each trigger as a child process (`spin trigger http`,
# `trigger-cron`); after SIGTERM to `spin up` alone the cron plugin can outlive it with
# parent 1 and ignore SIGTERM. All of them stay in `spin up`'s process group, so stopping
# the group, escalating to SIGKILL and checking that nothing is left stops them all.
# Only processes started here are touched: every signal goes to one process group id.

# Every process whose process group is $1, zombies left out (a dead child the shell has
# not reaped yet is no longer running).
group_pids() {
  local pgid=$1
  ps -eo pid=,pgid=,stat= 2>/dev/null | awk -v g="$pgid" '$2 == g && $3 !~ /^Z/ { print $1 }'
}

# Starts CMD in its own session and process group (setsid) in the background, stdout and
# stderr to LOG, stdin from /dev/null. START_GROUP_PID is its pid and its process group id
# (a non-interactive shell's background child is no group leader, so setsid does not fork).
start_group() {
  local log=$1
  shift
  setsid "$@" </dev/null >"$log" 2>&1 &
  START_GROUP_PID=$!
  # Until setsid() has run, the child is still in our group: wait for that (briefly).
  local _
  for _ in $(seq 1 100); do
    [ "$(ps -o pgid= -p "$START_GROUP_PID" 2>/dev/null | tr -d ' ')" = "$START_GROUP_PID" ] && return 0
    kill -0 "$START_GROUP_PID" 2>/dev/null || return 0 # already gone: the caller sees it
    sleep 0.01
  done
  echo "start_group: $1 did not become its own process group" >&2
  return 1
}

# SIGTERM to process group PGID, then up to GRACE seconds (default 10) for each of its
# processes to end, then SIGKILL to the group and a check that none is left. Reaps the
# group leader when it is this shell's child. Prints what had to be killed to stderr.
stop_group() {
  local pgid=$1 grace=${2:-10} left deadline
  case "$pgid" in '' | *[!0-9]* | 0 | 1)
    echo "stop_group: not a process group id: '$pgid'" >&2
    return 2
    ;;
  esac
  kill -TERM -- "-$pgid" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while :; do
    left=$(group_pids "$pgid")
    [ -z "$left" ] && break
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 0.2
  done
  if [ -n "$left" ]; then
    echo "stop_group: still running ${grace}s after SIGTERM, sending SIGKILL:" >&2
    # shellcheck disable=SC2086
    ps -o pid=,ppid=,stat=,args= -p "$(echo $left | tr ' ' ',')" >&2 2>/dev/null || true
    kill -KILL -- "-$pgid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while [ -n "$(group_pids "$pgid")" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  fi
  wait "$pgid" 2>/dev/null || true # reap the leader if it is our child
  left=$(group_pids "$pgid")
  if [ -n "$left" ]; then
    echo "stop_group: processes of group $pgid survived SIGKILL:" >&2
    # shellcheck disable=SC2086
    ps -o pid=,ppid=,stat=,args= -p "$(echo $left | tr ' ' ',')" >&2 2>/dev/null || true
    return 1
  fi
  return 0
}

# Fails when any process's command line matches PATTERN (an extended regex, as pgrep -f
# takes it), listing them. Make PATTERN specific to the test (a temp dir, a port).
assert_no_strays() {
  local pattern=$1 pids
  pids=$(pgrep -f -- "$pattern" || true)
  [ -z "$pids" ] && return 0
  echo "stray processes matching '$pattern':" >&2
  # shellcheck disable=SC2086
  ps -o pid=,pgid=,ppid=,stat=,etime=,args= -p "$(echo $pids | tr ' ' ',')" >&2 || true
  return 1
}
