#!/bin/sh
# A confined agent's pane command (swarm/sandbox.py, launch_argv), run by /bin/sh before
# the agent: no Python started for it, so a restart costs what it did. It makes what must
# exist, checks the worktree's git link, then builds bwrap's mounts by prepending to "$@"
# (so in the reverse of their final order: the deeper a mount, the later it must come)
# and becomes bwrap. Arguments: WORKTREE REPO STATE AGENT COMMON_GIT_DIR SHIM_LINE KEEP ARGV...
# (KEEP: ':'-separated folders under /tmp the agent must still read, such as this swarm's
# own installation; the private /tmp would hide them).
# The exec line is `sandbox.options()` (tests/test_sandbox.py checks that they agree).
set -e
wt=$1 repo=$2 state=$3 agent=$4 common=$5 shim=$6 keep=$7
shift 7
store=$common/swarm-objects/$agent
refs=$common/refs/heads/swarm
logs=$common/logs/refs/heads/swarm
alt=$common/objects/info/alternates
own1=$state/claude/$agent
own2=$state/sim/$agent
mkdir -p -- "$refs" "$logs" "${alt%/*}" "$store/pack" \
  "$state/worktrees" "$state/bin" "$state/roles" "$own1" "$own2"
# Never empty, so never removed: git deletes a ref's emptied folders (the refinery deleting
# the last merged task branch), and a bind whose folder is removed outside leaves the agent
# a read-only one. Git skips dot-files among loose refs.
: > "$refs/.keep"
: > "$logs/.keep"

# `swarm` on the agent's PATH, as runtimes/claude.py writes it: read-only inside
tmp=$state/bin/.swarm.$$.tmp
printf '%s\n' '#!/bin/sh' "$shim" > "$tmp"
chmod 755 "$tmp"
if cmp -s "$tmp" "$state/bin/swarm"; then rm -f "$tmp"; else mv -f "$tmp" "$state/bin/swarm"; fi

# the agent's object store, read by every swarm process through the repository's alternates
flock "$alt.swarm-lock" \
  sh -c 'grep -qxF "$1" "$2" 2>/dev/null || echo "$1" >> "$2"' sh "$store" "$alt"

# the worktree's own git folder, only if its link points where git made it
link=$(cat "$wt/.git")
admin=${link#gitdir: }
case $admin in
  "$common"/worktrees/*/* | */../*) admin= ;;
  "$common"/worktrees/?*) ;;
  *) admin= ;;
esac
if [ -z "$admin" ] || [ ! -d "$admin" ]; then
  echo "swarm: cannot confine $agent: $wt/.git does not point into $common/worktrees"
  exec sleep 2147483647
fi

set -- --setenv GIT_OBJECT_DIRECTORY "$store" \
  --setenv GIT_ALTERNATE_OBJECT_DIRECTORIES "$common/objects" --chdir "$wt" -- "$@"
set -- --bind "$own1" "$own1" --bind "$own2" "$own2" --bind "$wt" "$wt" \
  --ro-bind "$wt/.git" "$wt/.git" --bind "$refs" "$refs" --bind "$logs" "$logs" \
  --bind "$store" "$store" "$@"
set -- --bind "$admin" "$admin" --ro-bind "$admin/commondir" "$admin/commondir" \
  --ro-bind "$admin/gitdir" "$admin/gitdir" "$@"
# every entry of .swarm read-only again, but the store's files (SQLite writes next to them)
for e in "$state"/* "$state"/.[!.]*; do
  [ -e "$e" ] || continue
  case ${e##*/} in swarm.db | swarm.db-wal | swarm.db-shm | swarm.db-journal) continue ;; esac
  set -- --ro-bind "$e" "$e" "$@"
done
set -- --ro-bind "$repo" "$repo" --bind "$state" "$state" "$@"
# sockets outside /tmp that would let the agent act unconfined (D-Bus, a moved tmux folder)
for d in "${XDG_RUNTIME_DIR:-}" "${TMUX_TMPDIR:-}"; do
  case $d in
    "" | /tmp | /tmp/* | /var/tmp | /var/tmp/*) ;;
    *) [ ! -d "$d" ] || set -- --tmpfs "$d" "$@" ;;
  esac
done
set -f
IFS=:
for p in $keep; do
  [ -z "$p" ] || set -- --ro-bind-try "$p" "$p" "$@"
done
unset IFS
set +f
exec bwrap --die-with-parent --unshare-pid --unshare-ipc --cap-drop ALL --ro-bind / / --dev /dev --proc /proc --ro-bind /proc/sys /proc/sys --ro-bind-try /proc/sysrq-trigger /proc/sysrq-trigger --tmpfs /tmp --tmpfs /var/tmp "$@"
