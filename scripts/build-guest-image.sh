#!/usr/bin/env bash
# Builds the Linux guest of the qemu engine, unattended (root) and idempotent, cached in ONE folder
# outside git: ${VSWAPPER_CACHE:-/var/cache/vswapper}.
#   kernel/vmlinuz            Debian's linux-image-cloud-amd64, extracted from its .deb (not installed)
#   initramfs-v$V.cpio.gz     busybox, the virtio modules in load order, and an init that mounts the
#                             disk and serves a command channel on /dev/ttyS1
#   disk-v$V-<N>M.ext4        ext4 with 4 KiB blocks: busybox, sysbench and pbzip2 with their shared
#                             libraries (from Debian .debs), and /data/test_file.0 of N MiB of random
#                             bytes (sysbench fileio's own file name); its md5 in disk-v$V-<N>M.md5
#   disk-v$V-wc-<N>M-<K>k-s<S>.ext4  (--wc) one guest's word-count disk: busybox, the word count of
#                             scripts/guest/wc.c (static, built here with the host's gcc) and
#                             /data/input.txt, N MiB of text over K distinct words drawn with seed S;
#                             in its .md5 the md5 of the word count's output as the host computes it
# The only outside source is the Debian archive through apt. Usage:
#   build-guest-image.sh [FILE_MIB]      prints KEY=VALUE lines for the engine, CACHE=... last
#   build-guest-image.sh --wc SEED INPUT_MIB KEYS   the same for one many-guest word-count guest
set -euo pipefail
V=3 # bump when the initramfs or disk layout changes: older artifacts are removed
WC_SEED=""
if [ "${1:-}" = "--wc" ]; then
  WC_SEED="${2:-}" WC_MIB="${3:-}" WC_KEYS="${4:-}"
  for v in "$WC_SEED" "$WC_MIB" "$WC_KEYS"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "build-guest-image: --wc SEED INPUT_MIB KEYS must be numbers" >&2; exit 2; }
  done
  FILE_MIB=0
else
  FILE_MIB="${1:-200}"
fi
[[ "$FILE_MIB" =~ ^[0-9]+$ ]] || { echo "build-guest-image: FILE_MIB must be a number" >&2; exit 2; }
CACHE="${VSWAPPER_CACHE:-/var/cache/vswapper}"
[ "$(id -u)" = 0 ] || { echo "build-guest-image: needs root (apt-get, mkfs)" >&2; exit 2; }
mkdir -p "$CACHE/debs"
export DEBIAN_FRONTEND=noninteractive
log() { echo "build-guest-image: $*" >&2; }

# One lock: two builds (or a build and a run) never race on the cache.
exec 9>"$CACHE/.build.lock"
flock 9

updated=0
apt_update() { if [ $updated = 0 ]; then apt-get update -qq >&2; updated=1; fi; }

# Host tools (the only packages installed on the host).
need=()
for p in qemu-system-x86:qemu-system-x86_64 busybox-static:busybox cpio:cpio e2fsprogs:mkfs.ext4 \
  util-linux:losetup xz-utils:xz; do
  command -v "${p#*:}" >/dev/null || need+=("${p%%:*}")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt_update
  apt-get install -y -qq "${need[@]}" >&2
fi
file -L "$(command -v busybox)" 2>/dev/null | grep -q 'statically linked' || {
  apt_update
  apt-get install -y -qq busybox-static >&2
}
BUSYBOX=$(command -v busybox)

download() { # package names -> .debs in $CACHE/debs (skips what is there)
  local missing=()
  for p in "$@"; do ls "$CACHE/debs/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  (cd "$CACHE/debs" && apt-get download -qq "${missing[@]}" >&2) || {
    apt_update
    (cd "$CACHE/debs" && apt-get download -qq "${missing[@]}" >&2)
  }
}

# The kernel: extracted, never installed on the host.
if [ ! -f "$CACHE/kernel/vmlinuz" ]; then
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
  [ -n "$pkg" ] || { apt_update; pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}'); }
  log "kernel $pkg"
  download "$pkg"
  rm -rf "$CACHE/kernel.tmp" && mkdir -p "$CACHE/kernel.tmp"
  dpkg-deb -x "$CACHE/debs/${pkg}_"*.deb "$CACHE/kernel.tmp/root"
  cp "$CACHE"/kernel.tmp/root/boot/vmlinuz-* "$CACHE/kernel.tmp/vmlinuz"
  mv "$CACHE/kernel.tmp/root/lib/modules" "$CACHE/kernel.tmp/modules"
  rm -rf "$CACHE/kernel.tmp/root" "$CACHE/kernel" && mv "$CACHE/kernel.tmp" "$CACHE/kernel"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The initramfs: busybox, the virtio modules in load order, and the init (the command channel).
INITRD="$CACHE/initramfs-v$V.cpio.gz"
if [ ! -f "$INITRD" ]; then
  log "initramfs"
  root="$tmp/initramfs"
  mkdir -p "$root"/{bin,proc,sys,dev,mnt,modules}
  cp "$BUSYBOX" "$root/bin/busybox"
  for a in sh mount umount insmod cat echo sync poweroff sleep stty cut chroot mkdir; do ln -s busybox "$root/bin/$a"; done
  kdir=$(ls -d "$CACHE"/kernel/modules/*/kernel)
  for m in virtio/virtio_ring virtio/virtio virtio/virtio_pci_legacy_dev virtio/virtio_pci_modern_dev \
    virtio/virtio_pci block/virtio_blk virtio/virtio_balloon; do
    f=$(find "$kdir" -path "*/${m}.ko*" | head -1)
    [ -n "$f" ] || { log "module $m not found"; exit 1; }
    case "$f" in
      *.xz) xz -dc "$f" >"$root/modules/$(basename "$m").ko" ;;
      *) cp "$f" "$root/modules/$(basename "$m").ko" ;;
    esac
  done
  cat >"$root/init" <<'INIT'
#!/bin/sh
# The guest's init: mounts the workload disk and serves commands on /dev/ttyS1 (the host's end is
# QEMU's stdio). Protocol, one line each way:
#   host:  <id> <shell command>        run in the disk's root (chroot); "<id> !<command>" runs here
#   guest: @@VSW begin <id> <uptime>   then the command's output, then
#          @@VSW end <id> <rc> <uptime>
# The kernel console is /dev/ttyS0; nothing here drops caches: the guest keeps its page cache.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk virtio_balloon; do
  insmod /modules/$m.ko
done
stty -F /dev/ttyS1 raw -echo
exec 0</dev/ttyS1 1>/dev/ttyS1 2>&1
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
if mount -t ext4 -o noatime /dev/vda /mnt; then
  mkdir -p /mnt/proc /mnt/sys /mnt/dev
  mount -t proc proc /mnt/proc
  mount -t sysfs sysfs /mnt/sys
  mount -t devtmpfs dev /mnt/dev
  echo "@@VSW ready $(cut -d' ' -f1 /proc/uptime)"
else
  echo "@@VSW error cannot mount /dev/vda"
fi
while IFS= read -r line; do
  id=${line%% *}
  cmd=${line#* }
  echo "@@VSW begin $id $(cut -d' ' -f1 /proc/uptime)"
  case "$cmd" in
    !*) sh -c "${cmd#!}" ;;
    *) chroot /mnt /bin/sh -c "cd /data && $cmd" ;;
  esac
  rc=$?
  echo "@@VSW end $id $rc $(cut -d' ' -f1 /proc/uptime)"
done
poweroff -f
INIT
  chmod +x "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 >"$INITRD.tmp")
  mv "$INITRD.tmp" "$INITRD"
fi

# --wc: one guest's word-count disk (no Debian tools needed: busybox and a static binary).
if [ -n "$WC_SEED" ]; then
  command -v gcc >/dev/null || { apt_update; apt-get install -y -qq gcc libc6-dev >&2; }
  src="$(dirname "$(readlink -f "$0")")/guest/wc.c"
  WC_BIN="$CACHE/wc-$(md5sum "$src" | cut -c1-12)"
  if [ ! -x "$WC_BIN" ]; then
    log "word count (static) from $src"
    gcc -O2 -static -o "$WC_BIN.tmp" "$src" >&2
    mv "$WC_BIN.tmp" "$WC_BIN"
  fi
  DISK="$CACHE/disk-v$V-wc-${WC_MIB}M-${WC_KEYS}keys-s${WC_SEED}-$(basename "$WC_BIN").ext4"
  SUM="${DISK%.ext4}.md5"
  if [ ! -f "$DISK" ] || [ ! -f "$SUM" ]; then
    log "word-count disk: ${WC_MIB} MiB of text, ${WC_KEYS} keys, seed ${WC_SEED}"
    d="$tmp/wcdisk"
    mkdir -p "$d/data" "$d/proc" "$d/sys" "$d/dev" "$d/tmp" "$d/bin"
    cp "$BUSYBOX" "$d/bin/busybox"
    for a in sh cat dd md5sum sync sleep head cut tr grep sed ls free echo true; do ln -s busybox "$d/bin/$a"; done
    cp "$WC_BIN" "$d/data/wc"
    "$WC_BIN" gen "$WC_SEED" "$WC_MIB" "$WC_KEYS" >"$d/data/input.txt"
    "$WC_BIN" count "$d/data/input.txt" 2>/dev/null | md5sum | cut -d' ' -f1 >"$SUM.tmp"
    rm -f "$DISK.tmp"
    mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 -d "$d" "$DISK.tmp" "$((WC_MIB + WC_MIB / 16 + 16))M" >&2
    rm -rf "$d"
    mv "$SUM.tmp" "$SUM"
    mv "$DISK.tmp" "$DISK"
  fi
  # Older builds of the word count and their disks go.
  for f in "$CACHE"/wc-* "$CACHE"/disk-v$V-wc-*; do
    [ -e "$f" ] || continue
    case "$f" in "$WC_BIN"|*"-$(basename "$WC_BIN")".ext4|*"-$(basename "$WC_BIN")".md5) ;; *) rm -f "$f" ;; esac
  done
  echo "KERNEL=$CACHE/kernel/vmlinuz"
  echo "INITRD=$INITRD"
  echo "DISK=$DISK"
  echo "MD5=$(cat "$SUM")"
  echo "CACHE=$CACHE"
  exit 0
fi

# The workload tools, from Debian's .debs (extracted, not installed), with the libraries they load.
TOOLS="$CACHE/tools-v$V"
if [ ! -x "$TOOLS/usr/bin/sysbench" ] || [ ! -x "$TOOLS/usr/bin/pbzip2" ]; then
  log "workload tools (sysbench, pbzip2)"
  pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances sysbench pbzip2 2>/dev/null | grep -E '^[a-z0-9]' | sort -u)
  [ -n "$pkgs" ] || { apt_update; pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests \
    --no-conflicts --no-breaks --no-replaces --no-enhances sysbench pbzip2 | grep -E '^[a-z0-9]' | sort -u); }
  # shellcheck disable=SC2086
  download $pkgs
  x="$tmp/extract"
  mkdir -p "$x"
  for p in $pkgs; do dpkg-deb -x "$(ls "$CACHE/debs/${p}_"*.deb | head -1)" "$x"; done
  t="$TOOLS.tmp"
  rm -rf "$t" && mkdir -p "$t/usr/bin" "$t/lib/x86_64-linux-gnu" "$t/lib64" "$t/bin"
  cp "$x/usr/bin/sysbench" "$x/usr/bin/pbzip2" "$t/usr/bin/"
  libpath="$x/lib/x86_64-linux-gnu:$x/usr/lib/x86_64-linux-gnu"
  for b in "$t/usr/bin/sysbench" "$t/usr/bin/pbzip2"; do
    LD_LIBRARY_PATH="$libpath" ldd "$b" | awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | while read -r l; do
      base=$(basename "$l")
      # Prefer the library extracted from the .deb; the host's copy is the same Debian package.
      src="$l"
      for d in "$x/lib/x86_64-linux-gnu" "$x/usr/lib/x86_64-linux-gnu"; do [ -e "$d/$base" ] && src="$d/$base"; done
      case "$base" in ld-linux-x86-64.so.2) cp -L "$src" "$t/lib64/$base" ;; *) cp -L "$src" "$t/lib/x86_64-linux-gnu/$base" ;; esac
    done
  done
  [ -e "$t/lib64/ld-linux-x86-64.so.2" ] || cp -L /lib64/ld-linux-x86-64.so.2 "$t/lib64/"
  cp "$BUSYBOX" "$t/bin/busybox"
  for a in sh cat dd md5sum sync sleep head cut tr grep sed ls free echo true; do ln -s busybox "$t/bin/$a"; done
  rm -rf "$TOOLS" && mv "$t" "$TOOLS"
  rm -rf "$x"
fi

# The disk: ext4 with 4 KiB blocks, the tools and the sysbench file of FILE_MIB MiB.
DISK="$CACHE/disk-v$V-${FILE_MIB}M.ext4"
SUM="$CACHE/disk-v$V-${FILE_MIB}M.md5"
if [ ! -f "$DISK" ] || [ ! -f "$SUM" ]; then
  log "disk with a ${FILE_MIB} MiB file"
  d="$tmp/disk"
  mkdir -p "$d/data" "$d/proc" "$d/sys" "$d/dev" "$d/tmp"
  cp -a "$TOOLS/." "$d/"
  head -c "$((FILE_MIB * 1024 * 1024))" /dev/urandom >"$d/data/test_file.0"
  md5sum "$d/data/test_file.0" | cut -d' ' -f1 >"$SUM.tmp"
  tools_mib=$(du -sm "$TOOLS" | cut -f1)
  rm -f "$DISK.tmp"
  mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 -d "$d" "$DISK.tmp" \
    "$((FILE_MIB + FILE_MIB / 16 + tools_mib + 32))M"
  rm -rf "$d"
  mv "$SUM.tmp" "$SUM"
  mv "$DISK.tmp" "$DISK"
fi

# Older versions' artifacts go: the cache holds one build.
for f in "$CACHE"/initramfs*.cpio.gz "$CACHE"/disk-*.ext4 "$CACHE"/disk-*.md5 "$CACHE"/disk-*.ext4.md5; do
  [ -e "$f" ] || continue
  case "$(basename "$f")" in initramfs-v$V.*|disk-v$V-*) ;; *) rm -f "$f" ;; esac
done
for f in "$CACHE"/tools-v*; do [ "$f" = "$TOOLS" ] || rm -rf "$f"; done

echo "KERNEL=$CACHE/kernel/vmlinuz"
echo "INITRD=$INITRD"
echo "DISK=$DISK"
echo "MD5=$(cat "$SUM")"
echo "CACHE=$CACHE"
