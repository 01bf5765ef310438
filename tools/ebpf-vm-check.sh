#!/usr/bin/env bash
# Boots a Debian kernel in qemu (default 5.10, the line of Alibaba Cloud Linux 3) with this
# machine's root filesystem shared read-only over 9p, and runs tools/ebpf-vm-check.js there: the
# flow program through that kernel's verifier, attached (TCX, else clsact) to a veth, counting
# crafted frames. Not part of the tests: it downloads a kernel package and takes a minute or two
# under TCG. Needs root, qemu-system-x86, busybox-static, and `npm ci && npm run build` here.
#
#   tools/ebpf-vm-check.sh [linux-image package, default linux-image-5.10.0-46-amd64-unsigned] [suite, default bullseye-security]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
pkg="${1:-linux-image-5.10.0-46-amd64-unsigned}"
suite="${2:-bullseye-security}"
work="$(mktemp -d /tmp/flowlog-vm-check-XXXXXX)"
trap 'rm -rf "$work"' EXIT
archive=debian; [[ "$suite" == *-security ]] && archive=debian-security
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/initrd"/{bin,modules,proc,sys,dev,host}
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/$archive $suite main" > "$work/sources.list"
apt=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Debug::NoLocking=1)
apt-get "${apt[@]}" update -qq
(cd "$work" && apt-get "${apt[@]}" download "$pkg" 2>/dev/null)
dpkg-deb -x "$work"/*.deb "$work/root"
kdir="$(ls -d "$work"/root/lib/modules/*)"
mods=(drivers/virtio/virtio drivers/virtio/virtio_ring drivers/virtio/virtio_pci net/9p/9pnet net/9p/9pnet_virtio fs/fscache/fscache fs/9p/9p drivers/net/veth net/sched/sch_ingress net/sched/cls_bpf)
for m in "${mods[@]}"; do cp "$kdir/kernel/$m.ko" "$work/initrd/modules/"; done
cp "$(command -v busybox)" "$work/initrd/bin/busybox"
cp "$repo/tools/ebpf-vm-check.js" "$work/initrd/check.js"
cat > "$work/initrd/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
for m in virtio virtio_ring virtio_pci 9pnet 9pnet_virtio fscache 9p veth sch_ingress cls_bpf; do insmod /modules/\$m.ko || echo "insmod \$m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose hostroot /host
mount -t proc proc /host/proc; mount -t sysfs sysfs /host/sys; mount -t devtmpfs dev /host/dev
for d in tmp run root; do mount -t tmpfs tmpfs /host/\$d; done
cp /check.js /host/tmp/check.js
chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp FLOWLOG_REPO=$repo /usr/bin/node /tmp/check.js 2>&1
poweroff -f
INIT
chmod +x "$work/initrd/init"
(cd "$work/initrd" && find . | cpio -o -H newc 2>/dev/null | gzip > "$work/initrd.gz")
qemu-system-x86_64 -machine q35 -cpu max -m 1536 -smp 1 -nographic -no-reboot \
  -kernel "$(ls "$work"/root/boot/vmlinuz-*)" -initrd "$work/initrd.gz" -append "console=ttyS0 panic=-1 quiet" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap -nic none 2>&1 | tr -d '\r' | grep -E '^(CHECK|[0-9]+\.[0-9]+\.)' 
