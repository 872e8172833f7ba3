#!/bin/bash
# etcd member of the lab's three-member Raft cluster (Debian's etcd-server 3.4).
# Env: ETCD_NAME (etcd-N), ETCD_INITIAL_CLUSTER (etcd-1=https://etcd-1:2380,...).
# Clients: https://:2379 only, TLS with client certificates required. Peers: https://:2380
# with peer client-cert auth.
set -euo pipefail
name=${ETCD_NAME:?}
pki=/etc/kubelab/pki
# `etcd` reads ETCD_* variables as flags too; the ones we use on purpose are passed as flags.
unset ETCD_NAME
cluster=${ETCD_INITIAL_CLUSTER:?}; unset ETCD_INITIAL_CLUSTER
listen="https://0.0.0.0:2379"
state=new
# A member that already has data rejoins; --initial-cluster-state only matters for a fresh one.
[ -d /var/lib/etcd/data/member ] && state=existing
exec etcd --name "$name" --data-dir /var/lib/etcd/data \
  --listen-client-urls "$listen" --advertise-client-urls "https://$name:2379" \
  --listen-peer-urls https://0.0.0.0:2380 --initial-advertise-peer-urls "https://$name:2380" \
  --initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token kubelab-lab \
  --cert-file "$pki/$name.crt" --key-file "$pki/$name.key" --trusted-ca-file "$pki/ca.crt" --client-cert-auth \
  --peer-cert-file "$pki/$name-peer.crt" --peer-key-file "$pki/$name-peer.key" --peer-trusted-ca-file "$pki/ca.crt" \
  --peer-client-cert-auth \
  --heartbeat-interval 100 --election-timeout 1000 --snapshot-count 10000 --auto-compaction-retention 1 \
  --logger zap --log-outputs stderr
