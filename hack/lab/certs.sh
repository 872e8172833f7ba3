#!/usr/bin/env bash
# The lab's PKI, with openssl: one CA, and a certificate + key for every component.
#
#   hack/lab/certs.sh OUT_DIR [HOST_API_URL]      (default OUT_DIR: <repo>/deploy/.lab)
#
# OUT_DIR/pki/ca.{crt,key}                       the cluster CA (CN kubelab-ca)
# OUT_DIR/pki/etcd-N.{crt,key}                   etcd member N serving cert (SANs etcd-N, localhost, 127.0.0.1, its IP)
# OUT_DIR/pki/etcd-N-peer.{crt,key}              etcd member N peer cert (server+client auth)
# OUT_DIR/pki/etcd-client.{crt,key}              etcdctl (drills, health checks)
# OUT_DIR/pki/apiserver-etcd-client.{crt,key}    the apiserver's etcd client cert
# OUT_DIR/pki/apiserver/                         the apiserver's --cert-dir: ca.crt, ca.key, apiserver.{crt,key}
#                                                (pki.Ensure reuses a valid CA and a serving cert that has every SAN it wants)
# OUT_DIR/pki/node-N.{crt,key}                   kubelet: client (system:node:node-N, O=system:nodes) + serving (SANs node-N, its IP)
# OUT_DIR/kubeconfigs/{controller-manager,scheduler,node-1,node-2,node-3,admin}.kubeconfig
#                                                certs embedded, server https://apiserver:6443
# OUT_DIR/admin.kubeconfig                       system:masters, server HOST_API_URL (https://127.0.0.1:16443)
# Idempotent: existing files are kept (delete OUT_DIR to start over); the host kubeconfig is
# rewritten when HOST_API_URL changes.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/deploy/.lab}"
host_url="${2:-https://127.0.0.1:16443}"
pki="$out/pki"; kc="$out/kubeconfigs"
mkdir -p "$pki/apiserver" "$kc"
chmod 0755 "$out" "$pki" "$kc"
# Keys live here: keep the whole folder out of git.
[ -f "$out/.gitignore" ] || echo '*' > "$out/.gitignore"
# Fixed addresses of the compose network (deploy/lab/docker-compose.yml).
SUBNET_PREFIX="${LAB_SUBNET_PREFIX:-172.28.0}"
declare -A IP=([apiserver]=$SUBNET_PREFIX.10 [etcd-1]=$SUBNET_PREFIX.11 [etcd-2]=$SUBNET_PREFIX.12 [etcd-3]=$SUBNET_PREFIX.13)

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if [ ! -s "$pki/ca.crt" ] || [ ! -s "$pki/ca.key" ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=kubelab-ca" -days 3650 -sha256 -out "$pki/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -addext "subjectKeyIdentifier=hash"
  echo "certs: new CA in $pki/ca.crt"
fi

# issue NAME SUBJECT EKU [SANS]: NAME.crt/NAME.key under $pki, signed by the CA (kept when present).
issue() {
  local name=$1 subj=$2 eku=$3 sans=${4:-}
  [ -s "$pki/$name.crt" ] && [ -s "$pki/$name.key" ] && return 0
  mkdir -p "$(dirname "$pki/$name")"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$tmp/req.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    echo "authorityKeyIdentifier=keyid"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } > "$tmp/ext.cnf"
  openssl x509 -req -in "$tmp/req.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -CAserial "$tmp/ca.srl" \
    -days 365 -sha256 -extfile "$tmp/ext.cnf" -out "$pki/$name.crt" 2>/dev/null
  chmod 0644 "$pki/$name.crt"; chmod 0600 "$pki/$name.key"
}

for n in 1 2 3; do
  issue "etcd-$n" "/CN=etcd-$n" serverAuth,clientAuth "DNS:etcd-$n,DNS:localhost,IP:127.0.0.1,IP:${IP[etcd-$n]}"
  issue "etcd-$n-peer" "/CN=etcd-$n" serverAuth,clientAuth "DNS:etcd-$n,IP:${IP[etcd-$n]}"
done
issue etcd-client "/CN=etcd-client" clientAuth
issue apiserver-etcd-client "/O=system:masters/CN=kube-apiserver-etcd-client" clientAuth
host_ip=$(hostname -I 2>/dev/null | awk '{print $1}'); host_ip=${host_ip:-127.0.0.1}
# Every SAN pki.Ensure asks for (localhost, 127.0.0.1, ::1, kubernetes*, the hostname "apiserver",
# --advertise-address), plus the host's address for clients outside the compose network.
issue apiserver/apiserver "/CN=kube-apiserver" serverAuth \
  "DNS:apiserver,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:::1,IP:${IP[apiserver]},IP:$host_ip"
cp "$pki/ca.crt" "$pki/ca.key" "$pki/apiserver/"
issue admin "/O=system:masters/CN=kubernetes-admin" clientAuth
issue controller-manager "/CN=system:kube-controller-manager" clientAuth
issue scheduler "/CN=system:kube-scheduler" clientAuth
# A node's certificate is its kubelet's client certificate and its HTTPS serving certificate.
for n in 1 2 3; do
  issue "node-$n" "/O=system:nodes/CN=system:node:node-$n" clientAuth,serverAuth "DNS:node-$n,DNS:localhost,IP:127.0.0.1,IP:$SUBNET_PREFIX.10$n"
done

b64() { base64 -w0 < "$1"; }
# kubeconfig FILE USER CERTNAME SERVER
kubeconfig() {
  local f=$1 user=$2 cert=$3 server=$4
  cat > "$f.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kubelab
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(b64 "$pki/$cert.crt")
    client-key-data: $(b64 "$pki/$cert.key")
contexts:
- name: $user@kubelab
  context:
    cluster: kubelab
    user: $user
current-context: $user@kubelab
KC
  chmod 0600 "$f.tmp"; mv "$f.tmp" "$f"
}
kubeconfig "$kc/controller-manager.kubeconfig" system:kube-controller-manager controller-manager https://apiserver:6443
kubeconfig "$kc/scheduler.kubeconfig" system:kube-scheduler scheduler https://apiserver:6443
kubeconfig "$kc/admin.kubeconfig" admin admin https://apiserver:6443
for n in 1 2 3; do kubeconfig "$kc/node-$n.kubeconfig" "system:node:node-$n" "node-$n" https://apiserver:6443; done
kubeconfig "$out/admin.kubeconfig" admin admin "$host_url"
# The containers run as root, the files are bind-mounted read-only; keys stay 0600.
echo "certs: $pki and $kc ready; admin kubeconfig $out/admin.kubeconfig ($host_url)"
