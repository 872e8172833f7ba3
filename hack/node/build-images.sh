#!/usr/bin/env bash
# Build kubelab's offline images as docker-archive tarballs, from nothing:
#   nginx:1.14.2  Debian's nginx binary + its shared libraries + deploy/images/nginx/*
#                 + /usr/local/bin/kubelab-tool (hack/node/mkimage/cmd/kubelab-tool; no shell)
#   pause:3.9     static Go binary hack/node/mkimage/cmd/pause (also tagged :3.6)
#   kubelab/dns:1.0.0  the cluster DNS server, static Go binary ./dns/cmd/dns (the addon's image)
# Cached by content: each image is rebuilt only when a hash of its inputs changed.
#
#   hack/node/build-images.sh [OUT_DIR]      (default: <repo>/.local/images)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-${KUBELAB_IMAGES_DIR:-$root/.local/images}}"
mod="$root/hack/node/mkimage"
img="$root/deploy/images"
mkdir -p "$out/bin"
export GOWORK=off CGO_ENABLED=0

# Tools (the Go build cache makes this fast when nothing changed).
(cd "$mod" && go build -trimpath -ldflags '-s -w' -o "$out/bin/" . ./cmd/pause ./cmd/kubelab-tool)

# hash FILE... -> one sha256 over names and contents.
hash() { for f in "$@"; do printf '%s\n' "$f"; sha256sum < "$f"; done | sha256sum | cut -c1-64; }
mkimage_src=("$mod/main.go" "$mod/go.mod")

# up_to_date NAME HASH: true when OUT/NAME.tar was built from inputs with this hash.
up_to_date() { [ -f "$out/$1.tar" ] && [ "$(cat "$out/$1.inputs" 2>/dev/null)" = "$2" ]; }

# ---- nginx ----------------------------------------------------------------------------
nginx_bin=/usr/sbin/nginx
[ -x "$nginx_bin" ] || { echo "build-images: $nginx_bin missing; run hack/node/install.sh" >&2; exit 1; }
mapfile -t libs < <(ldd "$nginx_bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
real_libs=(); for l in "${libs[@]}"; do real_libs+=("$(readlink -f "$l")"); done
nginx_inputs=("$nginx_bin" "${real_libs[@]}" /etc/nginx/mime.types "$img"/nginx/* "${mkimage_src[@]}" "$mod/cmd/kubelab-tool/main.go")
h=$(hash "${nginx_inputs[@]}"; go version)
if up_to_date nginx-1.14.2 "$h"; then
  echo "build-images: nginx:1.14.2 up to date ($out/nginx-1.14.2.tar)"
else
  rfs=$(mktemp -d); trap 'rm -rf "$rfs"' EXIT
  install -D -m 0755 "$nginx_bin" "$rfs/usr/sbin/nginx"
  for l in "${libs[@]}"; do install -D -m 0755 "$(readlink -f "$l")" "$rfs$l"; done
  install -D -m 0644 "$img/nginx/nginx.conf" "$rfs/etc/nginx/nginx.conf"
  install -D -m 0644 /etc/nginx/mime.types "$rfs/etc/nginx/mime.types"
  install -D -m 0644 "$img/nginx/index.html" "$rfs/usr/share/nginx/html/index.html"
  install -D -m 0755 "$out/bin/kubelab-tool" "$rfs/usr/local/bin/kubelab-tool"
  install -D -m 0644 "$img/nginx/passwd" "$rfs/etc/passwd"
  install -D -m 0644 "$img/nginx/group" "$rfs/etc/group"
  mkdir -p "$rfs/var/lib/nginx" "$rfs/var/log/nginx" "$rfs/run" "$rfs/tmp" "$rfs/var/cache/nginx" "$rfs/proc" "$rfs/sys" "$rfs/dev"
  chmod 1777 "$rfs/tmp"
  ln -s /dev/stdout "$rfs/var/log/nginx/access.log"
  ln -s /dev/stderr "$rfs/var/log/nginx/error.log"
  "$out/bin/mkimage" -rootfs "$rfs" -o "$out/nginx-1.14.2.tar" \
    -tag docker.io/library/nginx:1.14.2 \
    -entrypoint '["/usr/sbin/nginx"]' -cmd '["-g","daemon off;"]' \
    -expose 80/tcp -env NGINX_VERSION=1.14.2 -stopsignal SIGTERM \
    -label org.opencontainers.image.source=kubelab/deploy/images/nginx
  echo "$h" > "$out/nginx-1.14.2.inputs"
  rm -rf "$rfs"; trap - EXIT
fi

# ---- pause ----------------------------------------------------------------------------
h=$(hash "$mod/cmd/pause/main.go" "$img"/pause/* "${mkimage_src[@]}"; go version)
if up_to_date pause-3.9 "$h"; then
  echo "build-images: pause:3.9 up to date ($out/pause-3.9.tar)"
else
  rfs=$(mktemp -d); trap 'rm -rf "$rfs"' EXIT
  install -D -m 0755 "$out/bin/pause" "$rfs/pause"
  install -D -m 0644 "$img/pause/passwd" "$rfs/etc/passwd"
  install -D -m 0644 "$img/pause/group" "$rfs/etc/group"
  "$out/bin/mkimage" -rootfs "$rfs" -o "$out/pause-3.9.tar" \
    -tag registry.k8s.io/pause:3.9 -tag registry.k8s.io/pause:3.6 \
    -entrypoint '["/pause"]' -user 65535:65535
  echo "$h" > "$out/pause-3.9.inputs"
  rm -rf "$rfs"; trap - EXIT
fi
# ---- dns --------------------------------------------------------------------------------
# kubelab's cluster DNS (deploy/addons/dns.yaml), built from this checkout's workspace. Built
# static and without paths or VCS stamps, the same source gives the same binary, so its hash
# is the image's input.
(cd "$root" && GOWORK= go build -trimpath -buildvcs=false -ldflags '-s -w' -o "$out/bin/dns" ./dns/cmd/dns)
h=$(hash "$out/bin/dns" "$img"/dns/* "${mkimage_src[@]}"; go version)
if up_to_date dns-1.0.0 "$h"; then
  echo "build-images: kubelab/dns:1.0.0 up to date ($out/dns-1.0.0.tar)"
else
  rfs=$(mktemp -d); trap 'rm -rf "$rfs"' EXIT
  install -D -m 0755 "$out/bin/dns" "$rfs/dns"
  install -D -m 0644 "$img/dns/passwd" "$rfs/etc/passwd"
  install -D -m 0644 "$img/dns/group" "$rfs/etc/group"
  mkdir -p "$rfs/tmp"; chmod 1777 "$rfs/tmp"
  "$out/bin/mkimage" -rootfs "$rfs" -o "$out/dns-1.0.0.tar" \
    -tag docker.io/kubelab/dns:1.0.0 \
    -entrypoint '["/dns"]' -expose 53/udp -expose 53/tcp -expose 9153/tcp -stopsignal SIGTERM \
    -label org.opencontainers.image.source=kubelab/dns
  echo "$h" > "$out/dns-1.0.0.inputs"
  rm -rf "$rfs"; trap - EXIT
fi
ls -l "$out"/*.tar
