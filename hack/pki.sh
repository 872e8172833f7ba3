#!/usr/bin/env bash
# A cluster's PKI with openssl: one CA, a certificate and a kubeconfig for every component.
#
#   hack/pki.sh OUT_DIR SERVER_URL NODE_NAME[=ADDR[,ADDR...]]...
#
# make up calls it with this host as the one node; the docker-compose lab (hack/lab/certs.sh)
# with its nodes' container addresses and etcd members (PKI_ETCD_MEMBERS).
#
# OUT_DIR/ca.{crt,key}                         the cluster CA (CN kubelab-ca, EC P-256, 10 years)
# OUT_DIR/apiserver/                           the apiserver's --cert-dir: ca.{crt,key}, apiserver.{crt,key}
#                                              (SANs: every name the apiserver's bootstrap asks for, the
#                                              kubernetes Service's cluster IP ($PKI_SERVICE_IP, default
#                                              10.96.0.1: what pods reach it by), the host's name and IPs,
#                                              $PKI_EXTRA_SANS), admin.{crt,key}; the
#                                              apiserver reuses them instead of making its own
# OUT_DIR/certs/NAME.{crt,key}                 client certificates: admin (kubernetes-admin, O system:masters),
#                                              controller-manager (system:kube-controller-manager),
#                                              scheduler (system:kube-scheduler),
#                                              kubelet-NODE (system:node:NODE, O system:nodes);
#                                              kubelet-NODE-serving: the kubelet's HTTPS certificate (SANs
#                                              NODE, localhost, 127.0.0.1, and the ADDRs given with it,
#                                              else this host's name and IPs)
# OUT_DIR/kubeconfigs/{admin,controller-manager,scheduler,kubelet-NODE}.kubeconfig
#                                              certificates embedded, server SERVER_URL
# OUT_DIR/admin.kubeconfig                     admin's, server $PKI_ADMIN_SERVER (default SERVER_URL)
# OUT_DIR/etcd/                                only with PKI_ETCD_MEMBERS="NAME=ADDR ...": ca.crt; per member
#                                              NAME.{crt,key} serving (SANs NAME, localhost, 127.0.0.1, ADDR)
#                                              and NAME-peer.{crt,key} (SANs NAME, ADDR), both server+client
#                                              auth; etcd-client.{crt,key} (etcdctl), apiserver-etcd-client.{crt,key}
#
# Env: PKI_EXTRA_SANS (more apiserver SANs), PKI_SERVICE_IP (the first address of the
# apiserver's --service-cluster-ip-range, default 10.96.0.1), PKI_HOST_IP (this host's address, default the
# default route's source), PKI_ADMIN_SERVER, PKI_ETCD_MEMBERS.
#
# Idempotent: a valid file is reused. A certificate is (re)issued when it is missing, does not
# verify against the CA, expires within 30 days, or was issued for other SANs; a new CA (only
# when ca.crt/ca.key are missing or invalid) re-issues everything. Kubeconfigs are rewritten
# only when their content changes.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 OUT_DIR SERVER_URL [NODE_NAME[=ADDR[,ADDR...]]...]" >&2
  exit 2
fi
out=$1 server=$2; shift 2
nodes=("$@")
command -v openssl >/dev/null || { echo "pki: openssl is missing (apt-get install openssl)" >&2; exit 1; }

mkdir -p "$out/apiserver" "$out/certs" "$out/kubeconfigs"
chmod 0700 "$out" "$out/apiserver" "$out/certs" "$out/kubeconfigs"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
changed=()

valid_ca() {
  [ -s "$out/ca.crt" ] && [ -s "$out/ca.key" ] || return 1
  openssl x509 -in "$out/ca.crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
  # the key belongs to the certificate
  [ "$(openssl x509 -in "$out/ca.crt" -noout -pubkey 2>/dev/null)" = "$(openssl pkey -in "$out/ca.key" -pubout 2>/dev/null)" ]
}

if ! valid_ca; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$tmp/ca.key" -subj "/CN=kubelab-ca" -days 3650 -sha256 -out "$tmp/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -addext "subjectKeyIdentifier=hash"
  install -m 0600 "$tmp/ca.key" "$out/ca.key"
  install -m 0644 "$tmp/ca.crt" "$out/ca.crt"
  changed+=(ca)
fi

# issue PATH_PREFIX SUBJECT EKU [SANS]: PATH_PREFIX.crt/.key signed by the CA, kept when still good.
issue() {
  local p=$1 subj=$2 eku=$3 sans=${4:-}
  local want="$subj|$eku|$sans"
  if [ -s "$p.crt" ] && [ -s "$p.key" ] && [ "$(cat "$p.req" 2>/dev/null)" = "$want" ] &&
     openssl verify -CAfile "$out/ca.crt" "$p.crt" >/dev/null 2>&1 &&
     openssl x509 -in "$p.crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 &&
     [ "$(openssl x509 -in "$p.crt" -noout -pubkey 2>/dev/null)" = "$(openssl pkey -in "$p.key" -pubout 2>/dev/null)" ]; then
    return 0
  fi
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/leaf.key" 2>/dev/null
  openssl req -new -key "$tmp/leaf.key" -subj "$subj" -out "$tmp/leaf.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    echo "authorityKeyIdentifier=keyid"
    if [ -n "$sans" ]; then echo "subjectAltName=$sans"; fi
  } > "$tmp/ext.cnf"
  openssl x509 -req -in "$tmp/leaf.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 365 -sha256 -extfile "$tmp/ext.cnf" -out "$tmp/leaf.crt" 2>/dev/null
  # key first, certificate second (a crash in between leaves a mismatch the next run repairs)
  install -m 0600 "$tmp/leaf.key" "$p.key"
  install -m 0644 "$tmp/leaf.crt" "$p.crt"
  echo "$want" > "$p.req"
  changed+=("$(basename "$p")")
}

# The host's names and addresses.
host_name=$(hostname 2>/dev/null || true)
host_short=$(hostname -s 2>/dev/null || true)
# The address of the default route (not every bridge's: Docker networks come and go).
host_ips=${PKI_HOST_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -nE 's/.* src ([0-9.]+).*/\1/p')}
[ -n "$host_ips" ] || host_ips=$(hostname -I 2>/dev/null | awk '{print $1}')
server_host=$(echo "$server" | sed -E 's#^https://(\[([^]]+)\]|([^:/]+)).*#\2\3#')

san_list() { # names... -> "DNS:a,IP:b" (deduplicated)
  local seen=" " res=() h
  for h in "$@"; do
    [ -n "$h" ] || continue
    case "$seen" in *" $h "*) continue ;; esac
    seen="$seen$h "
    if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then res+=("IP:$h"); else res+=("DNS:$h"); fi
  done
  local IFS=,; echo "${res[*]}"
}

# shellcheck disable=SC2086 # word splitting of the IP and extra lists is wanted
api_sans=$(san_list localhost 127.0.0.1 ::1 kubernetes kubernetes.default kubernetes.default.svc \
  kubernetes.default.svc.cluster.local "${PKI_SERVICE_IP:-10.96.0.1}" "$host_name" "$host_short" $host_ips "$server_host" ${PKI_EXTRA_SANS:-})
issue "$out/apiserver/apiserver" "/CN=kube-apiserver" serverAuth "$api_sans"
for f in ca.crt ca.key; do
  cmp -s "$out/$f" "$out/apiserver/$f" || install -m "$([ $f = ca.key ] && echo 0600 || echo 0644)" "$out/$f" "$out/apiserver/$f"
done
issue "$out/certs/admin" "/O=system:masters/CN=kubernetes-admin" clientAuth
# The apiserver's bootstrap would make its own admin certificate: give it this one.
for f in admin.crt admin.key; do
  cmp -s "$out/certs/$f" "$out/apiserver/$f" || install -m "$([ $f = admin.key ] && echo 0600 || echo 0644)" "$out/certs/$f" "$out/apiserver/$f"
done
issue "$out/certs/controller-manager" "/CN=system:kube-controller-manager" clientAuth
issue "$out/certs/scheduler" "/CN=system:kube-scheduler" clientAuth
node_names=()
for spec in "${nodes[@]}"; do
  n=${spec%%=*}
  node_names+=("$n")
  # A node without addresses is this host.
  addrs="$host_name $host_ips"
  [ "$spec" = "$n" ] || addrs=${spec#*=}
  issue "$out/certs/kubelet-$n" "/O=system:nodes/CN=system:node:$n" clientAuth
  # shellcheck disable=SC2086 # word splitting of the address list is wanted
  issue "$out/certs/kubelet-$n-serving" "/O=system:nodes/CN=system:node:$n" serverAuth \
    "$(san_list "$n" localhost 127.0.0.1 ${addrs//,/ })"
done

# etcd's members and clients, when the cluster's etcd is not the apiserver's embedded one.
if [ -n "${PKI_ETCD_MEMBERS:-}" ]; then
  mkdir -p "$out/etcd"; chmod 0700 "$out/etcd"
  cmp -s "$out/ca.crt" "$out/etcd/ca.crt" || install -m 0644 "$out/ca.crt" "$out/etcd/ca.crt"
  for m in $PKI_ETCD_MEMBERS; do
    name=${m%%=*} addr=${m#*=}
    issue "$out/etcd/$name" "/CN=$name" serverAuth,clientAuth "$(san_list "$name" localhost 127.0.0.1 "$addr")"
    issue "$out/etcd/$name-peer" "/CN=$name" serverAuth,clientAuth "$(san_list "$name" "$addr")"
  done
  issue "$out/etcd/etcd-client" "/CN=etcd-client" clientAuth
  issue "$out/etcd/apiserver-etcd-client" "/O=system:masters/CN=kube-apiserver-etcd-client" clientAuth
fi

b64() { base64 -w0 < "$1"; }
# kubeconfig FILE USER CERT_PREFIX [SERVER]: written only when the content changes.
kubeconfig() {
  local f=$1 user=$2 cert=$3 server=${4:-$server}
  cat > "$tmp/kc" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kubelab
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$out/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(b64 "$cert.crt")
    client-key-data: $(b64 "$cert.key")
contexts:
- name: $user@kubelab
  context:
    cluster: kubelab
    user: $user
current-context: $user@kubelab
KC
  if ! cmp -s "$tmp/kc" "$f"; then
    install -m 0600 "$tmp/kc" "$f"
    changed+=("$(basename "$f")")
  fi
}
kubeconfig "$out/kubeconfigs/admin.kubeconfig" kubernetes-admin "$out/certs/admin"
kubeconfig "$out/kubeconfigs/controller-manager.kubeconfig" system:kube-controller-manager "$out/certs/controller-manager"
kubeconfig "$out/kubeconfigs/scheduler.kubeconfig" system:kube-scheduler "$out/certs/scheduler"
for n in "${node_names[@]}"; do
  kubeconfig "$out/kubeconfigs/kubelet-$n.kubeconfig" "system:node:$n" "$out/certs/kubelet-$n"
done
kubeconfig "$out/admin.kubeconfig" kubernetes-admin "$out/certs/admin" "${PKI_ADMIN_SERVER:-$server}"

if [ ${#changed[@]} -eq 0 ]; then
  echo "pki: $out up to date"
else
  echo "pki: $out: wrote ${changed[*]}"
fi
