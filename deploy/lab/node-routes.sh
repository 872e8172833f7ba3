#!/bin/bash
# Cross-node pod routes, kubelab's own: every few seconds, read the Nodes from the apiserver
# (the node's kubeconfig credentials, plain curl) and make this node's routing table send each
# other node's spec.podCIDR via that node's InternalIP on the compose network:
#   ip route replace <podCIDR> via <nodeIP>
# Routes of nodes that disappeared are removed. Quiet unless something changes.
set -uo pipefail
node=${NODE_NAME:-$(hostname)}
kc=/etc/kubelab/kubeconfig
period=${ROUTES_PERIOD:-2}
d=/run/kubelab/routes; mkdir -p "$d"
server=$(awk '$1=="server:" {print $2; exit}' "$kc")
awk '$1=="certificate-authority-data:" {print $2}' "$kc" | base64 -d > "$d/ca.crt"
awk '$1=="client-certificate-data:" {print $2}' "$kc" | base64 -d > "$d/client.crt"
awk '$1=="client-key-data:" {print $2}' "$kc" | base64 -d > "$d/client.key"; chmod 600 "$d/client.key"
declare -A have=()
while true; do
  if out=$(curl -fsS --max-time 5 --cacert "$d/ca.crt" --cert "$d/client.crt" --key "$d/client.key" "$server/api/v1/nodes" 2>/dev/null); then
    declare -A seen=()
    while read -r name cidr ip; do
      [ "$name" = "$node" ] && continue
      # A kubelet that reports no InternalIP: the node's name resolves on the compose network.
      [ "$ip" = null ] && ip=$(getent hosts "$name" | awk '{print $1; exit}')
      [ -n "$cidr" ] && [ "$cidr" != null ] && [ -n "$ip" ] && [ "$ip" != null ] || continue
      seen[$cidr]=1
      if [ "${have[$cidr]:-}" != "$ip" ] || ! ip route show "$cidr" | grep -q "via $ip"; then
        if ip route replace "$cidr" via "$ip" 2>/dev/null; then
          echo "lab-routes[$node]: $cidr via $ip ($name)" >&2; have[$cidr]=$ip
        fi
      fi
    done < <(jq -r '.items[] | [.metadata.name, (.spec.podCIDR // "null"),
                    ([.status.addresses[]? | select(.type=="InternalIP") | .address][0] // "null")] | @tsv' <<<"$out")
    for cidr in "${!have[@]}"; do
      if [ -z "${seen[$cidr]:-}" ]; then
        ip route del "$cidr" 2>/dev/null; unset "have[$cidr]"; echo "lab-routes[$node]: removed $cidr" >&2
      fi
    done
    unset seen
  fi
  sleep "$period"
done
