#!/usr/bin/env bash
# Builds Debian's QEMU 7.2 with the vswapper intercept patch (patches/qemu-7.2-intercept.patch):
# x86_64-softmmu only, TCG, vhost-user-blk, virtio-balloon, the memfd backend; no docs, GUI, tools
# or optional libraries. Unattended (root) and idempotent, cached in ${VSWAPPER_CACHE:-/var/cache/vswapper}:
#   qemu-src/                     Debian's source package (apt-get source, deb-src entry added once)
#   qemu-tree-<ver>/              the unpacked source with Debian's patches, and ours applied
#   qemu-build-<ver>/             the meson/ninja build tree (reused: a new patch rebuilds only what it touches)
#   qemu-intercept-<hash>/qemu-system-x86_64   the result, <hash> = sha256(source version + patch + options)
# Prints QEMU=<path>. Exit 3 when the build cannot happen here (no network to Debian's archive, no
# compiler): tests skip with the message it prints.
# Usage: build-qemu-intercept.sh [--check]   (--check: print QEMU=<path> if built, exit 1 otherwise)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PATCH="$here/patches/qemu-7.2-intercept.patch"
CACHE="${VSWAPPER_CACHE:-/var/cache/vswapper}"
# Debian 12's QEMU (the version the stock qemu-system-x86 package has); its .dsc comes from deb-src.
VERSION="${VSWAPPER_QEMU_VERSION:-1:7.2+dfsg-7+deb12u18}"
JOBS="${VSWAPPER_BUILD_JOBS:-2}"
log() { echo "build-qemu-intercept: $*" >&2; }
cannot() { echo "build-qemu-intercept: cannot build here: $*" >&2; exit 3; }

[ -f "$PATCH" ] || { log "$PATCH is missing"; exit 2; }
CONFIGURE_OPTS=(
  --prefix=/usr # firmware (seabios, option ROMs) from Debian's qemu-system-data in /usr/share/qemu
  --target-list=x86_64-softmmu
  --without-default-features # every optional library off; what the engine needs is enabled below
  --enable-tcg --enable-kvm
  --enable-vhost-user # vhost-user-blk-pci: the pager's disk
  --enable-fdt=system  # 7.2's x86_64-softmmu requires libfdt (the microvm machine); Debian's source has no dtc submodule
  --disable-docs --disable-user --disable-tools --disable-guest-agent --disable-install-blobs
  --disable-werror --disable-debug-info
)
ver_file=${VERSION#*:} # the epoch is not in file names
hash=$( (echo "$VERSION" && echo "${CONFIGURE_OPTS[*]}" && cat "$PATCH") | sha256sum | cut -c1-12)
out="$CACHE/qemu-intercept-$hash/qemu-system-x86_64"
if [ "${1:-}" = --check ]; then
  [ -x "$out" ] && { echo "QEMU=$out"; exit 0; }
  exit 1
fi
[ -x "$out" ] && { echo "QEMU=$out"; exit 0; }

[ "$(id -u)" = 0 ] || { log "needs root (apt-get)"; exit 2; }
mkdir -p "$CACHE/qemu-src"
exec 9>"$CACHE/.qemu-build.lock"
flock 9
[ -x "$out" ] && { echo "QEMU=$out"; exit 0; }
export DEBIAN_FRONTEND=noninteractive

# Build dependencies: a named list (apt-get build-dep would pull Xen, GTK, Spice... for nothing).
deps=(gcc make ninja-build meson python3 pkg-config libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev flex bison dpkg-dev)
missing=()
for p in "${deps[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  { apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }; } ||
    cannot "the build dependencies (${missing[*]}) could not be installed"
fi
command -v gcc >/dev/null || cannot "no compiler (gcc)"

# The source: a deb-src entry for Debian's own archive (added once), then apt-get source.
dsc="$CACHE/qemu-src/qemu_${ver_file}.dsc"
if [ ! -f "$dsc" ]; then
  srcs=/etc/apt/sources.list.d/vswapper-deb-src.sources
  if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
    log "adding $srcs"
    cat >"$srcs" <<'EOF'
# Added by vswapper's scripts/build-qemu-intercept.sh: Debian source packages (apt-get source qemu).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  (cd "$CACHE/qemu-src" && apt-get source -qq --download-only "qemu=$VERSION" >&2) || {
    apt-get update -qq >&2 || cannot "apt-get update failed (no network to Debian's archive?)"
    (cd "$CACHE/qemu-src" && apt-get source -qq --download-only "qemu=$VERSION" >&2) ||
      cannot "apt-get source qemu=$VERSION failed (no network to Debian's archive?)"
  }
fi

# The tree: unpacked once (Debian's quilt patches applied by dpkg-source); ours is swapped in place,
# the one applied kept beside it so that it can be reverted exactly.
tree="$CACHE/qemu-tree-$ver_file"
applied="$tree.applied.patch"
if [ ! -d "$tree" ]; then
  log "unpacking $dsc"
  rm -rf "$tree.tmp" "$applied"
  dpkg-source -q --no-copy -x "$dsc" "$tree.tmp" >&2
  mv "$tree.tmp" "$tree"
fi
if ! cmp -s "$PATCH" "$applied"; then
  # Files the patch leaves as they were keep their times, so ninja rebuilds only what changed.
  keep=$(mktemp -d)
  trap 'rm -rf "$keep"' EXIT
  if [ -f "$applied" ]; then
    for f in $(sed -n 's#^+++ b/##p' "$applied"); do
      [ -f "$tree/$f" ] && mkdir -p "$keep/$(dirname "$f")" && cp -p "$tree/$f" "$keep/$f"
    done
    log "reverting the previous patch"
    patch -d "$tree" -p1 -R -s -E <"$applied" || { log "could not revert; unpacking again"; rm -rf "$tree" "$applied" "$keep"; exec "$0" "$@"; }
    rm -f "$applied"
  fi
  log "applying $(basename "$PATCH")"
  patch -d "$tree" -p1 -s --dry-run <"$PATCH" >&2 || { log "the patch does not apply to $ver_file"; exit 2; }
  patch -d "$tree" -p1 -s <"$PATCH" >&2
  cp "$PATCH" "$applied"
  for f in $(sed -n 's#^+++ b/##p' "$PATCH"); do
    if cmp -s "$keep/$f" "$tree/$f"; then touch -r "$keep/$f" "$tree/$f"; fi
  done
fi

# Configure once per option set; ninja rebuilds only what a new patch touched.
build="$CACHE/qemu-build-$ver_file"
opts_stamp="$build/.vswapper-configure-opts"
if [ ! -f "$opts_stamp" ] || [ "$(cat "$opts_stamp")" != "${CONFIGURE_OPTS[*]}" ]; then
  log "configuring"
  rm -rf "$build" && mkdir -p "$build"
  (cd "$build" && nice -n 10 "$tree/configure" "${CONFIGURE_OPTS[@]}" >configure.log 2>&1) || {
    tail -20 "$build/configure.log" >&2
    log "configure failed ($build/configure.log)"
    exit 2
  }
  echo "${CONFIGURE_OPTS[*]}" >"$opts_stamp"
fi
log "building with -j$JOBS (niced; the first build takes long on a small machine)"
(cd "$build" && nice -n 10 ninja -j"$JOBS" qemu-system-x86_64 >build.log 2>&1) || {
  grep -E 'error|Error' "$build/build.log" | head -20 >&2
  log "build failed ($build/build.log)"
  exit 2
}
mkdir -p "$(dirname "$out")"
cp "$build/qemu-system-x86_64" "$out.tmp" && mv "$out.tmp" "$out"
for d in "$CACHE"/qemu-intercept-*; do [ "$d" = "$(dirname "$out")" ] || rm -rf "$d"; done
echo "QEMU=$out"
