#!/usr/bin/env bash
# The Debian package (scripts/package.sh, `make package`; issue 35), installed as a DBA
# installs it, into a Debian 12 root of its own (debootstrap --variant=minbase, cached as a
# tarball in $PGML_CACHE), so the development install under /usr is never touched:
#   1. apt-get install ./postgresql-15-pgml_<version>_amd64.deb resolves the declared
#      dependencies (postgresql-15, libopenblas0, libgomp1, ...) from Debian's mirror;
#   2. pg_createcluster 15 pgml_pkg with shared_preload_libraries = 'pgml', started with
#      pg_ctlcluster; CREATE EXTENSION pgml; train (xgboost, linear) and predict;
#      pgml.versions() names the package's version;
#   3. the cluster is dropped and apt-get purge removes every file the package installed.
# Needs root (chroot, mount). Builds the package first unless PGML_DEB names one.
#   tests/package.sh      (run by scripts/test.sh)
source "$(dirname "$0")/../scripts/common.sh"
[ "$(id -u)" = 0 ] || { echo "tests/package.sh: run as root (chroot, mount)" >&2; exit 1; }
MIRROR=${PGML_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Removed and recreated as root on every run: an absolute path of its own, never / or a
# system directory.
ROOTFS=$(realpath -m "${PGML_PACKAGE_ROOT:-/var/tmp/pgml-package-root}")
case "$ROOTFS" in
  /var/tmp/?*|/tmp/?*|"$PGML_CACHE"/?*) ;;
  *) echo "tests/package.sh: PGML_PACKAGE_ROOT must be under /var/tmp, /tmp or PGML_CACHE, not $ROOTFS" >&2; exit 1 ;;
esac
TARBALL="$PGML_CACHE/debian-bookworm-minbase.tar"
PORT=${PGML_PACKAGE_PORT:-5439}

# Mounts under a root go before anything under it is removed; what cannot be unmounted
# keeps the directory from being removed.
unmount_all() {
  local dir=${1:-$ROOTFS} m mounts
  for m in "$dir/dev/shm" "$dir/proc" "$dir/sys"; do
    if mountpoint -q "$m" 2>/dev/null; then umount "$m" || umount -l "$m"; fi
  done
  mounts=$(findmnt -rn -o TARGET)
  if grep -q "^$dir/" <<< "$mounts"; then
    echo "tests/package.sh: mounts remain under $dir; not removing it" >&2
    exit 1
  fi
}
remove_root() { unmount_all "$1"; rm -rf --one-file-system "$1"; }
in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
cleanup() {
  if [ -x "$ROOTFS/usr/bin/pg_ctlcluster" ]; then in_root pg_ctlcluster 15 pgml_pkg stop -m immediate >/dev/null 2>&1 || true; fi
  unmount_all
}
remove_root "$ROOTFS"
trap cleanup EXIT

if [ -z "${PGML_DEB:-}" ]; then
  PGML_DEB=$("$ROOT/scripts/package.sh" | tail -n 1 | cut -d' ' -f1)
fi
log "package: $(basename "$PGML_DEB"), $(du -h "$PGML_DEB" | cut -f1)"

if [ ! -s "$TARBALL" ]; then
  log "package: debootstrap a Debian 12 root (once; cached in $TARBALL)"
  build="$ROOTFS.build"
  remove_root "$build"
  debootstrap --variant=minbase bookworm "$build" "$MIRROR" >/dev/null
  # No service starts inside the root, and postgresql-common creates no cluster of its own.
  printf '#!/bin/sh\nexit 101\n' > "$build/usr/sbin/policy-rc.d"
  chmod 755 "$build/usr/sbin/policy-rc.d"
  mkdir -p "$build/etc/postgresql-common/createcluster.d"
  echo "create_main_cluster = false" > "$build/etc/postgresql-common/createcluster.d/no-main.conf"
  unmount_all "$build"
  tar -C "$build" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
  remove_root "$build"
fi
mkdir -p "$ROOTFS"
tar -C "$ROOTFS" -xf "$TARBALL"
cp --remove-destination /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
# /proc for dpkg's maintainer scripts and pg_ctlcluster, a tmpfs for POSIX shared memory.
# Where mounting is not allowed, go on without: /dev/shm is then a plain directory of the
# root, which shm_open uses as well.
mount -t proc proc "$ROOTFS/proc" || echo "tests/package.sh: cannot mount /proc in the root; going on without" >&2
mount -t tmpfs -o mode=1777 shm "$ROOTFS/dev/shm" || chmod 1777 "$ROOTFS/dev/shm"
cp --remove-destination "$PGML_DEB" "$ROOTFS/tmp/pgml.deb"
host_lib=$(md5sum "$("$PG_CONFIG" --pkglibdir)/pgml.so" 2>/dev/null || true)

log "package: apt-get install ./pgml.deb (its dependencies from $MIRROR)"
APT=(apt-get -q -o Acquire::Check-Valid-Until=false -o Dpkg::Use-Pty=0)
in_root "${APT[@]}" update >/dev/null
in_root "${APT[@]}" install -y --no-install-recommends /tmp/pgml.deb > "$ROOTFS/tmp/install.log" 2>&1 ||
  { tail -30 "$ROOTFS/tmp/install.log"; exit 1; }
VERSION=$(dpkg-deb -f "$PGML_DEB" Version)
check "the package is installed" "$(in_root dpkg-query -W -f '${Status} ${Version}' postgresql-15-pgml)" "install ok installed $VERSION"
for dep in postgresql-15 libopenblas0 libgomp1; do
  check "dependency $dep installed with it" "$(in_root dpkg-query -W -f '${Status}' "$dep" 2>/dev/null)" "install ok installed"
done
libs=$(in_root ldd /usr/lib/postgresql/15/lib/pgml.so) || { echo "$libs"; exit 1; }
check "pgml.so finds every library it links" "$(grep -c 'not found' <<< "$libs" || true)" 0
check "pgml.so loads the package's libxgboost" \
  "$(grep -o 'libxgboost.so.[0-9]* => [^ ]*' <<< "$libs" | sed 's/.*=> //')" "/usr/lib/postgresql/15/lib/libxgboost.so.3"

log "package: a cluster the Debian way, CREATE EXTENSION, train, predict"
in_root pg_createcluster 15 pgml_pkg --port "$PORT" -o "shared_preload_libraries=pgml" \
  -o "listen_addresses=" >/dev/null
in_root pg_ctlcluster --skip-systemctl-redirect 15 pgml_pkg start
PSQL=(in_root runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p "$PORT")
out=$("${PSQL[@]}" -d postgres <<'SQL'
SET client_min_messages = warning;
SET pgml.training_progress = off;
CREATE EXTENSION pgml;
SELECT table_name FROM pgml.load_dataset('diabetes', schema => 'public');
SELECT project FROM pgml.train('pkg xgboost', 'regression', 'public.diabetes', 'target', 'xgboost', '{"n_estimators": 10}');
SELECT project FROM pgml.train('pkg linear', 'regression', 'public.diabetes', 'target', 'linear');
SELECT 'predicted ' || count(*) FILTER (WHERE pgml.predict('pkg xgboost', d) > 0 AND pgml.predict('pkg linear', d) > 0)
  FROM public.diabetes d;
SELECT 'versions ' || library || ' ' || extension || ' ' || update_available FROM pgml.versions();
SELECT 'library ' || setting FROM pg_catalog.pg_settings WHERE name = 'shared_preload_libraries';
SQL
) || { echo "$out"; tail -20 "$ROOTFS/var/log/postgresql/postgresql-15-pgml_pkg.log"; exit 1; }
check "every row predicted by both models" "$(grep '^predicted' <<< "$out")" "predicted 442"
check "pgml.versions() names the package's version" "$(grep '^versions' <<< "$out")" "versions $VERSION $VERSION false"
check "pgml preloaded" "$(grep '^library' <<< "$out")" "library pgml"
in_root pg_ctlcluster --skip-systemctl-redirect 15 pgml_pkg stop
in_root pg_dropcluster 15 pgml_pkg

log "package: apt-get purge"
# Every file the package installed (dpkg -L also lists the directories it shares).
files=$(in_root dpkg -L postgresql-15-pgml | while read -r f; do if [ -f "$ROOTFS$f" ]; then echo "$f"; fi; done)
in_root "${APT[@]}" purge -y postgresql-15-pgml > "$ROOTFS/tmp/purge.log" 2>&1 || { tail -20 "$ROOTFS/tmp/purge.log"; exit 1; }
left=$(for f in $files; do if [ -e "$ROOTFS$f" ]; then echo "$f"; fi; done | tr '\n' ' ')
check "purge removed all $(wc -w <<< "$files") files the package installed" "${left:-none}" none
check "dpkg no longer knows the package" "$(in_root dpkg-query -W -f '${Status}' postgresql-15-pgml 2>/dev/null || echo gone)" gone
check "the development install is untouched" "$(md5sum "$("$PG_CONFIG" --pkglibdir)/pgml.so" 2>/dev/null || true)" "$host_lib"
echo "package: $((checks - failed)) of $checks checks passed"
[ "$failed" = 0 ]
# Passed: the root (about 400 MB) goes; after a failure it stays for a look.
trap - EXIT
cleanup
remove_root "$ROOTFS"
