#!/bin/bash
# The lab's apiserver: all three etcd members, its own PKI in /etc/kubelab/pki/apiserver
# (ca.crt/ca.key/apiserver.crt/apiserver.key made by hack/lab/certs.sh; the apiserver's
# pki.Ensure reuses them and only adds admin.crt/admin.kubeconfig).
# etcd over client TLS when this apiserver binary has --etcd-cafile; else plain http on
# the private network (port 2378), logged loudly.
set -euo pipefail
pki=/etc/kubelab/pki
args=(--cert-dir "$pki/apiserver" --bind-address 0.0.0.0 --secure-port 6443 --grpc-port 6444
      --advertise-address "${ADVERTISE_ADDRESS:-$(hostname -i | awk '{print $1}')}")
help=$(apiserver -h 2>&1 || true)
if grep -q -- '-etcd-cafile' <<<"$help"; then
  args+=(--etcd-servers https://etcd-1:2379,https://etcd-2:2379,https://etcd-3:2379
         --etcd-cafile "$pki/ca.crt" --etcd-certfile "$pki/apiserver-etcd-client.crt" --etcd-keyfile "$pki/apiserver-etcd-client.key")
  echo "lab-apiserver: etcd over TLS (client certificate apiserver-etcd-client)" >&2
else
  args+=(--etcd-servers http://etcd-1:2378,http://etcd-2:2378,http://etcd-3:2378)
  echo "lab-apiserver: WARNING this apiserver has no --etcd-cafile; talking plain http to etcd on the private network" >&2
fi
exec apiserver "${args[@]}" "$@"
