#!/usr/bin/env bash
# Builds the qemu-pager engine's userfaultfd shim (src/pager/shim/uffd-shim.c), a shared library
# preloaded into QEMU, with gcc. Idempotent: the library is cached under a name carrying the hash of
# its source, in ${VSWAPPER_CACHE:-/var/cache/vswapper}; other builds untouched for a day are removed
# (not at once: another checkout of the project may be about to preload its own).
# Prints SHIM=<path>.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/src/pager/shim/uffd-shim.c"
CACHE="${VSWAPPER_CACHE:-/var/cache/vswapper}"
[ -f "$src" ] || { echo "build-uffd-shim: $src is missing" >&2; exit 2; }
command -v gcc >/dev/null || { echo "build-uffd-shim: gcc is missing (apt-get install gcc)" >&2; exit 2; }
mkdir -p "$CACHE"
hash=$(sha256sum "$src" | cut -c1-12)
out="$CACHE/uffd-shim-$hash.so"
if [ ! -f "$out" ]; then
  exec 9>"$CACHE/.shim.lock"
  flock 9
  if [ ! -f "$out" ]; then
    gcc -O2 -Wall -Wextra -Werror -fPIC -shared -pthread -o "$out.tmp" "$src"
    mv "$out.tmp" "$out"
  fi
  find "$CACHE" -maxdepth 1 -name 'uffd-shim-*.so' ! -path "$out" -mtime +0 -delete
fi
echo "SHIM=$out"
