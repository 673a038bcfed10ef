#!/usr/bin/env bash
# Run by `npm test` before the tests (npm's pretest): builds, once and cached, what the real-guest
# tests need and the tests themselves never build because it takes long: the patched QEMU that the
# False Reads Preventer runs on (scripts/build-qemu-intercept.sh, ~20 min on 2 cores the first time,
# instant when cached). Never fails the test run: when the build cannot happen here (not root, no
# network, no compiler) or fails, it says why, records the reason where the tests read it, and the
# tests that need the patched QEMU skip with that reason instead of hiding it.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CACHE="${VSWAPPER_CACHE:-/var/cache/vswapper}"
note="$CACHE/qemu-intercept-build.failed"
log() { echo "prepare-tests: $*" >&2; }

if bash "$here/scripts/build-qemu-intercept.sh" --check >/dev/null 2>&1; then
  rm -f "$note" 2>/dev/null
  exit 0
fi
if [ "${VSWAPPER_SKIP_QEMU_BUILD:-}" = 1 ]; then
  log "VSWAPPER_SKIP_QEMU_BUILD=1: not building the patched QEMU; the Preventer's real-guest tests will skip"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "not root: the patched QEMU is not built and cannot be here (apt-get); the Preventer's real-guest tests will skip"
  exit 0
fi
mkdir -p "$CACHE" || { log "cannot create $CACHE"; exit 0; }
buildlog="$CACHE/qemu-intercept-build.log"
log "building the patched QEMU once (cached in $CACHE; the first build takes about 20 min on 2 cores; log: $buildlog)"
start=$(date +%s)
bash "$here/scripts/build-qemu-intercept.sh" >"$buildlog" 2>&1
rc=$?
if [ $rc = 0 ]; then
  rm -f "$note"
  log "the patched QEMU is built ($(( $(date +%s) - start )) s)"
else
  reason=$(grep -E 'cannot build here|failed|does not apply|missing' "$buildlog" | tail -1)
  echo "the patched QEMU did not build (exit $rc: ${reason:-see the log}; log: $buildlog)" >"$note"
  log "$(cat "$note"); the Preventer's real-guest tests will skip with this reason"
fi
exit 0
