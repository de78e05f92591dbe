#!/usr/bin/env bash
# The NUMA test on a real multi-node machine: a qemu-system-x86_64 guest
# with NODES NUMA nodes (2 vCPUs each) boots Debian's own kernel with an
# initramfs holding busybox-static and the test binary with its libraries,
# runs it, and powers off. Fails on a timeout or a missing PASS marker.
#   usage: guest.sh TEST_BINARY WORK_DIR NODES
# The kernel package is fetched with apt-get download (extracted, never
# installed) into WORK_DIR once. Software emulation, single-threaded TCG
# (multi-threaded TCG hung in some boots); -cpu max has AVX2, FMA and F16C.
set -euo pipefail
bin=$1 work=$2 nodes=$3
mkdir -p "$work"
work=$(cd "$work" && pwd)

# the kernel: Debian's current linux-image-*-amd64, decompressed once so
# qemu boots the ELF directly (PVH), without decompressing it under emulation
kernel="$work/vmlinux"
if [ ! -s "$kernel" ]; then
  find_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1; }
  pkg=$(find_pkg)
  if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then apt-get update -q >/dev/null 2>&1 || true; pkg=$(find_pkg); fi
  [ -n "$pkg" ] || { echo "guest: no linux-image-*-amd64 in the package lists (apt-get update?)"; exit 1; }
  (cd "$work" && rm -rf deb && mkdir deb && cd deb && apt-get download "$pkg" >/dev/null 2>&1 &&
    dpkg-deb -x ./*.deb x)
  bz=$(ls "$work"/deb/x/boot/vmlinuz-*)
  python3 - "$bz" "$kernel" <<'PY' || cp "$bz" "$kernel"
import lzma, sys
data = open(sys.argv[1], "rb").read()
at = data.find(b"\xfd7zXZ\x00")
if at < 0:
    sys.exit(1)
d = lzma.LZMADecompressor()
out = d.decompress(data[at:])
if out[:4] != b"\x7fELF":
    sys.exit(1)
open(sys.argv[2], "wb").write(out)
PY
  rm -rf "$work/deb"
fi

# the initramfs: busybox, the test and every library it loads
root="$work/root-$nodes"
rm -rf "$root" && mkdir -p "$root"/{bin,proc,sys,dev,tests}
cp /bin/busybox "$root/bin/busybox"
cp "$bin" "$root/tests/"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
done
cat >"$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
/tests/$(basename "$bin") $nodes 2
echo "guest exit \$?"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd-$nodes.gz"

numa=()
for ((n = 0; n < nodes; n++)); do
  numa+=(-object "memory-backend-ram,id=m$n,size=512M" -numa "node,nodeid=$n,cpus=$((2 * n))-$((2 * n + 1)),memdev=m$n")
done
log="$work/guest-$nodes.log"
set +e
timeout 300 qemu-system-x86_64 -accel tcg,thread=single -cpu max -smp $((2 * nodes)) -m $((512 * nodes))M "${numa[@]}" \
  -kernel "$kernel" -initrd "$work/initrd-$nodes.gz" -append "console=ttyS0 panic=-1 quiet" \
  -nographic -no-reboot -nodefaults -serial stdio >"$log" 2>&1
rc=$?
set -e
tr -d '\r' <"$log" | sed 's/^.*Booting from ROM\.\.\.//' | grep -aE '^(guest|  node|  moek_numa|  interleave|  split|  first-touch|  context|test_numa|FAIL|MOEK_)' || true
if [ $rc -eq 124 ]; then echo "guest: timed out after 300 s (log: $log)"; exit 1; fi
grep -q MOEK_NUMA_GUEST_PASS "$log" || { echo "guest: no PASS marker (log: $log)"; tail -n 30 "$log"; exit 1; }
