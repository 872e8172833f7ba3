#!/usr/bin/env bash
# The lab's base image, from nothing: a minimal Debian bookworm rootfs made with debootstrap
# (containerd, runc, CNI plugins, iptables, iproute2, curl, etcd, docker-registry, ...),
# cached as .local/lab/base-<hash>.tar and `docker import`-ed as kubelab/base:<hash>.
# <hash> covers this script's package list, suite and mirror: nothing changed -> ~0.1 s.
#
#   hack/lab/base-rootfs.sh          prints the image reference (kubelab/base:<hash>) on stdout
# Env: LAB_MIRROR (default: the first http(s) URI of this machine's apt sources),
#      KUBELAB_LAB_CACHE (<repo>/.local/lab).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${KUBELAB_LAB_CACHE:-$root/.local/lab}"
suite=bookworm
PKGS=(containerd runc containernetworking-plugins iptables iproute2 ca-certificates curl
      etcd-server etcd-client docker-registry procps util-linux kmod conntrack jq)

mirror="${LAB_MIRROR:-}"
if [ -z "$mirror" ]; then
  # The same Debian mirror this machine's apt uses (deb822 .sources or one-line .list).
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {for (i=2;i<=NF;i++) if ($i !~ /security/) {print $i; exit}}')
  [ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}')
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi

hash=$( { printf '%s\n' "$suite" "$mirror" "${PKGS[@]}"; sed -n '/^# rootfs-recipe-begin/,/^# rootfs-recipe-end/p' "$0"; } | sha256sum | cut -c1-12)
ref="kubelab/base:$hash"
log() { echo "base-rootfs: $*" >&2; }

if docker image inspect "$ref" >/dev/null 2>&1; then
  log "$ref up to date"; echo "$ref"; exit 0
fi
mkdir -p "$cache"
tarball="$cache/base-$hash.tar"
if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { log "installing debootstrap"; apt-get install -y -qq debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }; }
  rfs="$cache/rootfs-$hash"
  rm -rf "$rfs"; mkdir -p "$rfs"
  trap 'rm -rf "$rfs"' EXIT
  t0=$(date +%s)
  log "debootstrap $suite from $mirror (packages: ${PKGS[*]}) ..."
  # rootfs-recipe-begin
  # Services must not start inside the chroot (docker-registry, etcd).
  mkdir -p "$rfs/usr/sbin"; printf '#!/bin/sh\nexit 101\n' > "$rfs/usr/sbin/policy-rc.d"; chmod +x "$rfs/usr/sbin/policy-rc.d"
  debootstrap --variant=minbase --include="$(IFS=,; echo "${PKGS[*]}")" "$suite" "$rfs" "$mirror" > "$cache/debootstrap-$hash.log" 2>&1 ||
    { log "debootstrap failed; see $cache/debootstrap-$hash.log"; tail -20 "$cache/debootstrap-$hash.log" >&2; exit 1; }
  # Slim it: apt lists and caches, docs, man pages.
  rm -rf "$rfs"/var/cache/apt/archives/*.deb "$rfs"/var/lib/apt/lists/* "$rfs"/usr/share/doc/* \
         "$rfs"/usr/share/man/* "$rfs"/usr/share/info/* "$rfs"/var/log/*.log "$rfs"/var/cache/debconf/*-old
  # The lab nodes use iptables-nft, as the host does.
  chroot "$rfs" update-alternatives --set iptables /usr/sbin/iptables-nft >/dev/null 2>&1 || true
  # etcd-server's package made /var/lib/etcd/default; the lab gives each member its own dir.
  rm -rf "$rfs"/var/lib/etcd/*
  : > "$rfs/etc/hostname"; : > "$rfs/etc/resolv.conf"
  # rootfs-recipe-end
  tar -C "$rfs" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$rfs"; trap - EXIT
  log "rootfs built in $(( $(date +%s) - t0 )) s ($(du -h "$tarball" | cut -f1))"
fi
docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c "LABEL io.kubelab.base=$hash" -m "kubelab lab base ($suite, debootstrap)" "$tarball" "$ref" >/dev/null
log "imported $ref"
echo "$ref"
