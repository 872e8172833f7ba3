#!/usr/bin/env bash
# Install (if missing) what a kubelab node needs: containerd, runc, CNI plugins,
# iptables, iproute2, skopeo, Debian's docker-registry, and nginx (whose binary and
# libraries go into the offline nginx image). Idempotent: a second run only checks.
#
# Package services are NOT started: a policy-rc.d that denies starts is in place during
# the install (docker-registry would otherwise grab :5000, nginx :80). kubelab runs
# its own containerd and registry (hack/node/containerd.sh, hack/node/registry.sh).
set -euo pipefail

# package:file-that-proves-it. A file that exists counts as installed, so a host whose
# containerd/runc come from elsewhere (Docker's containerd.io on CI runners, which
# conflicts with the distro's containerd package) is left alone.
PKGS=(containerd:/usr/bin/containerd runc:/usr/sbin/runc containernetworking-plugins:/usr/lib/cni/bridge
      iptables:/usr/sbin/iptables iproute2:/usr/sbin/ip skopeo:/usr/bin/skopeo
      docker-registry:/usr/bin/docker-registry nginx:/usr/sbin/nginx curl:/usr/bin/curl
      util-linux:/usr/bin/nsenter ca-certificates:/etc/ssl/certs)
# crictl: Debian bookworm has no cri-tools package; install it only if the distro has it.
OPTIONAL=(cri-tools)

missing=()
for pf in "${PKGS[@]}"; do
  p=${pf%%:*} f=${pf#*:}
  if [ "$p" = containerd ] || [ "$p" = runc ]; then
    command -v "$p" >/dev/null && continue
  fi
  [ -e "$f" ] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && [ "$p" != containernetworking-plugins ] && continue
  missing+=("$p")
done
opt=()
for p in "${OPTIONAL[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
  [ -f "/var/lib/kubelab/.no-$p" ] && continue   # looked for before and not found
  opt+=("$p")
done

if [ ${#missing[@]} -eq 0 ] && [ ${#opt[@]} -eq 0 ]; then
  echo "node-deps: all present"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "node-deps: missing ${missing[*]} ${opt[*]}; run as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Deny service starts during install unless a policy is already in place.
made_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  made_policy=1
fi
cleanup() { [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d; true; }
trap cleanup EXIT

echo "node-deps: apt-get install ${missing[*]} ${opt[*]}"
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p /var/lib/kubelab
for p in "${opt[@]}"; do
  if apt-cache show "$p" >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends "$p" >/dev/null
  else
    echo "node-deps: $p not in this distro's archive; skipped (kubelab speaks CRI itself)"
    touch "/var/lib/kubelab/.no-$p"
  fi
done

# Debian/Ubuntu put CNI plugins in /usr/lib/cni; report where they are.
for d in /usr/lib/cni /opt/cni/bin; do
  [ -x "$d/bridge" ] && { echo "node-deps: CNI plugins in $d"; break; }
done
echo "node-deps: done"
