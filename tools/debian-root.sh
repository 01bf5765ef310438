#!/usr/bin/env bash
# Clean Debian roots for the package tests, made with debootstrap from Debian's own repositories
# and kept between runs (the install tests start from them; CI reuses them when the machine is
# kept). Root only.
#
#   tools/debian-root.sh path RELEASE [PACKAGE...]
#       Prints the root of RELEASE (minbase), with PACKAGEs installed from the release's own
#       repository when named (each set its own root, derived from the clean one). Made once,
#       remade when older than 30 days. Cache: $FLOWLOG_ROOT_CACHE, else
#       /var/cache/flowlog-agent-ci/roots. Mirror: debootstrap's default, or $FLOWLOG_DEBIAN_MIRROR.
#   tools/debian-root.sh run ROOT [--bind HOST_DIR:ROOT_DIR]... -- COMMAND [ARG...]
#       Runs COMMAND chrooted in a throwaway copy of ROOT (an overlay: the cached root is never
#       changed), with /proc, /sys, /dev and the host's resolv.conf, in a private mount namespace.
#       Run it under `ip netns exec NS` to give it a network namespace's devices.
#   tools/debian-root.sh run ROOT --outside [--bind ...] -- COMMAND [ARG...]
#       The same copy, but COMMAND runs outside it, with $FLOWLOG_ROOT naming it (for tools that
#       take a root, such as rpm --root, then chroot "$FLOWLOG_ROOT" ...).
set -euo pipefail

cache="${FLOWLOG_ROOT_CACHE:-/var/cache/flowlog-agent-ci/roots}"
max_age_days=30

die() {
  echo "debian-root: $*" >&2
  exit 1
}

fresh() { # a root that exists and is younger than max_age_days
  [ -f "$1/.flowlog-root" ] && [ -z "$(find "$1/.flowlog-root" -mtime +"$max_age_days")" ]
}

make_clean() { # RELEASE -> $cache/RELEASE
  local release=$1 dest="$cache/$1" tmp
  fresh "$dest" && return 0
  tmp=$(mktemp -d "$cache/.make-$release-XXXXXX")
  # minbase: dpkg, apt and the essential packages, as the smallest Debian host has them.
  if ! debootstrap --variant=minbase "$release" "$tmp" ${FLOWLOG_DEBIAN_MIRROR:+"$FLOWLOG_DEBIAN_MIRROR"} >"$tmp.log" 2>&1; then
    tail -20 "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    die "debootstrap $release failed"
  fi
  rm -f "$tmp.log" "$tmp"/var/cache/apt/archives/*.deb
  date -u +%FT%TZ >"$tmp/.flowlog-root"
  rm -rf "$dest"
  mv "$tmp" "$dest"
}

make_derived() { # RELEASE PACKAGE... -> $cache/RELEASE+PKG+PKG
  local release=$1
  shift
  local dest tmp
  dest="$cache/$release+$(printf '%s\n' "$@" | sort -u | paste -sd+)"
  fresh "$dest" && { echo "$dest"; return 0; }
  make_clean "$release"
  tmp=$(mktemp -d "$cache/.make-$release-XXXXXX")
  cp -a "$cache/$release/." "$tmp/"
  if ! run_in "$tmp" -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" && apt-get clean && rm -rf /var/lib/apt/lists/*' sh "$@" >"$tmp.log" 2>&1; then
    tail -20 "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    die "install $* into $release failed"
  fi
  rm -f "$tmp.log"
  date -u +%FT%TZ >"$tmp/.flowlog-root"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  echo "$dest"
}

# run_in DIR [--bind H:R]... -- CMD...: chroot into DIR itself (used to derive roots).
run_in() {
  local dir=$1
  shift
  local binds=() outside=0
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    case "$1" in
      --bind) binds+=("$2"); shift 2 ;;
      --outside) outside=1; shift ;;
      *) die "run: unknown option $1" ;;
    esac
  done
  [ "${1:-}" = "--" ] && shift
  [ "$#" -gt 0 ] || die "run: no command"
  local script='set -e
dir=$1; shift
outside=$1; shift
n=$1; shift
mount -t proc proc "$dir/proc"
mount -t sysfs sysfs "$dir/sys"
mount --rbind /dev "$dir/dev"
mkdir -p "$dir/run" "$dir/tmp" && mount -t tmpfs tmpfs "$dir/run" && mount -t tmpfs tmpfs "$dir/tmp"
rm -f "$dir/etc/resolv.conf"; cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
while [ "$n" -gt 0 ]; do
  host=${1%%:*}; inside=${1#*:}; shift; n=$((n - 1))
  mkdir -p "$dir$inside" && mount --bind "$host" "$dir$inside"
done
if [ "$outside" = 1 ]; then FLOWLOG_ROOT=$dir exec "$@"; fi
exec chroot "$dir" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"'
  unshare --mount --propagation private bash -c "$script" bash "$dir" "$outside" "${#binds[@]}" "${binds[@]}" "$@"
}

# run ROOT [--bind H:R]... -- CMD...: the same in a throwaway overlay of ROOT.
run_overlay() {
  local root=$1
  shift
  [ -f "$root/.flowlog-root" ] || die "run: $root is not a root made by this script"
  local scratch status=0
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/flowlog-root-XXXXXX")
  mkdir -p "$scratch/upper" "$scratch/work" "$scratch/merged"
  # The overlay lives only in the private mount namespace below; the scratch directory holds its
  # changes and goes when the command ends.
  local script='set -e
mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/merged"
shift 2
exec "$@"'
  unshare --mount --propagation private bash -c "$script" bash "$root" "$scratch" "$0" __run_in "$scratch/merged" "$@" || status=$?
  rm -rf "$scratch"
  return "$status"
}

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"
cmd=${1:-}
shift || true
case "$cmd" in
  path)
    [ "$#" -ge 1 ] || die "usage: $0 path RELEASE [PACKAGE...]"
    mkdir -p "$cache"
    release=$1
    shift
    # One maker per root at a time (test files run in parallel).
    exec 9>"$cache/.lock-$release"
    flock 9
    if [ "$#" -eq 0 ]; then
      make_clean "$release"
      echo "$cache/$release"
    else
      make_derived "$release" "$@"
    fi
    ;;
  run) run_overlay "$@" ;;
  __run_in) run_in "$@" ;;
  *) die "usage: $0 path RELEASE [PACKAGE...] | run ROOT [--bind HOST:ROOT]... -- COMMAND..." ;;
esac
