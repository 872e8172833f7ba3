#!/bin/bash
# The lab's apiserver: all three etcd members over client TLS, its own PKI in
# /etc/kubelab/pki/apiserver (ca, apiserver and admin certificates made by hack/pki.sh through
# hack/lab/certs.sh; the apiserver's bootstrap reuses them and only adds admin.kubeconfig),
# Node,RBAC authorization (the default) and an audit log.
set -euo pipefail
pki=/etc/kubelab/pki
exec apiserver --cert-dir "$pki/apiserver" --bind-address 0.0.0.0 --secure-port 6443 --grpc-port 6444 \
  --advertise-address "${ADVERTISE_ADDRESS:-$(hostname -i | awk '{print $1}')}" \
  --etcd-servers https://etcd-1:2379,https://etcd-2:2379,https://etcd-3:2379 \
  --etcd-cafile "$pki/ca.crt" --etcd-certfile "$pki/apiserver-etcd-client.crt" --etcd-keyfile "$pki/apiserver-etcd-client.key" \
  --authorization-mode Node,RBAC --audit-log-path /var/log/kubelab-audit.log \
  "$@"
