#!/usr/bin/env bash
# The lab's PKI: hack/pki.sh (the one place certificates are made) with the lab's names and
# fixed addresses (deploy/lab/docker-compose.yml).
#
#   hack/lab/certs.sh OUT_DIR [HOST_API_URL]      (default OUT_DIR: <repo>/deploy/.lab)
#
# The layout is hack/pki.sh's: OUT_DIR/ca.{crt,key}; apiserver/ (the apiserver's --cert-dir,
# SANs also apiserver and its lab address); certs/ (admin, controller-manager, scheduler,
# kubelet-node-N client certs and kubelet-node-N-serving with the node's lab address);
# kubeconfigs/ (server https://apiserver:6443); etcd/ (ca.crt, etcd-1..3 serving and peer
# certs, etcd-client, apiserver-etcd-client); and OUT_DIR/admin.kubeconfig for the host,
# server HOST_API_URL (https://127.0.0.1:16443). Idempotent, as hack/pki.sh is.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/deploy/.lab}"
host_url="${2:-https://127.0.0.1:16443}"
mkdir -p "$out"
# Keys live here: keep the whole folder out of git.
[ -f "$out/.gitignore" ] || echo '*' > "$out/.gitignore"
# Fixed addresses of the compose network: apiserver .10, etcd-N .1N, node-N .10N.
net="${LAB_SUBNET_PREFIX:-172.28.0}"
PKI_EXTRA_SANS="$net.10 ${PKI_EXTRA_SANS:-}" \
PKI_ADMIN_SERVER="$host_url" \
PKI_ETCD_MEMBERS="etcd-1=$net.11 etcd-2=$net.12 etcd-3=$net.13" \
  "$root/hack/pki.sh" "$out" https://apiserver:6443 "node-1=$net.101" "node-2=$net.102" "node-3=$net.103"
