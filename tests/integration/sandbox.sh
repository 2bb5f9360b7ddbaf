#!/usr/bin/env bash
# Run a command as a container runtime would run the Dockerfile's image, without one: a
# read-only root filesystem holding the host's /usr and /etc, the staged image directory at
# WORKDIR, the Python it needs at its own path, all read-only; a fresh tmpfs at /tmp (the
# only writable place besides /dev/shm, as with an emptyDir); then an unprivileged user with
# no capabilities. Every mount lives in this process's own mount namespace and disappears
# with it, so run it (as root) under `unshare --mount --propagation private`.
#
# usage: sandbox.sh ROOT STAGED WORKDIR UID:GID RO_PATHS -- [NAME=VALUE...] COMMAND [ARG...]
#   ROOT      an empty directory to build the root filesystem on
#   STAGED    the image's files, mounted read-only at WORKDIR
#   RO_PATHS  colon-separated host paths mounted read-only at the same path (the interpreter)
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin  # mount, chroot, setpriv, whatever PATH the caller has
root=$1 staged=$2 workdir=$3 ids=$4 ro_paths=$5
shift 5
[ "$1" = -- ] && shift

bind_ro() {  # bind_ro SOURCE TARGET: a read-only view of SOURCE at TARGET
    mkdir -p "$2"
    mount --rbind "$1" "$2"
    mount -o remount,bind,ro "$2"
}

mount -t tmpfs -o mode=0755,size=1m rootfs "$root"
for dir in bin sbin lib lib32 lib64 libx32; do  # merged /usr: these are symlinks into it
    if [ -L "/$dir" ]; then ln -s "$(readlink "/$dir")" "$root/$dir"; fi
done
bind_ro /usr "$root/usr"
bind_ro /etc "$root/etc"
bind_ro /sys "$root/sys"
mkdir "$root/proc" "$root/dev" "$root/tmp"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"  # with /dev/shm, writable as in a container
# The tmpfs first: an interpreter that lives under /tmp (a checkout there) is bound on top.
mount -t tmpfs -o mode=1777,size=64m tmp "$root/tmp"
IFS=: read -ra paths <<< "$ro_paths"
for path in "${paths[@]}"; do bind_ro "$path" "$root$path"; done
bind_ro "$staged" "$root$workdir"
mount -o remount,ro "$root"

exec chroot "$root" setpriv --reuid="${ids%:*}" --regid="${ids#*:}" --clear-groups \
    --no-new-privs --inh-caps=-all --bounding-set=-all env -i -C "$workdir" "$@"
