#!/usr/bin/env bash
# Build the lab's images (make lab-images), from nothing and idempotently:
#   kubelab/base:<hash>            debootstrap rootfs, docker import (hack/lab/base-rootfs.sh)
#   kubelab/{etcd,apiserver,controller-manager,scheduler,node,registry}:lab
#                                  deploy/lab/Dockerfile.* on top of the base + static Go binaries
#                                  (the node image: the kubelet and the proxy)
# Each image carries the label io.kubelab.hash = sha256 of its Dockerfile, its build context
# and the base; an image whose label matches is not rebuilt (a no-change run takes ~2 s,
# mostly `go build` finding its cache).
# Go binaries: CGO_ENABLED=0 into .local/lab/bin (not bin/, so `make build` and the lab do
# not overwrite each other's binaries and force rebuilds). A command that does not build yet
# is reported; for the kubelet (or the proxy), the node image then gets a stub (containerd
# still runs).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
lab="$root/deploy/lab"
cache="${KUBELAB_LAB_CACHE:-$root/.local/lab}"
bin="$cache/bin"; ctxs="$cache/ctx"
tag="${LAB_TAG:-lab}"
mkdir -p "$bin" "$ctxs"
log() { echo "lab-images: $*" >&2; }
t0=$(date +%s.%N)

base=$("$root/hack/lab/base-rootfs.sh")

# ---- Go binaries ----------------------------------------------------------------------
declare -A built=()
for c in apiserver controller-manager scheduler kubelet proxy; do
  pkg="./$c/cmd/$c"
  if [ ! -d "$root/$pkg" ]; then log "$pkg does not exist yet"; continue; fi
  if (cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$bin/$c.new" "$pkg") 2>"$cache/build-$c.log"; then
    if cmp -s "$bin/$c.new" "$bin/$c"; then rm "$bin/$c.new"; else mv "$bin/$c.new" "$bin/$c"; fi
    built[$c]=1
  else
    rm -f "$bin/$c.new"
    log "go build $pkg FAILED (see $cache/build-$c.log):"; head -5 "$cache/build-$c.log" | sed 's/^/    /' >&2
  fi
done

# ---- registry content: nginx:1.14.2, pause:3.9/3.6, kubelab/dns:1.0.0 pushed into a directory
"$root/hack/node/build-images.sh" >/dev/null
regdata="$cache/registry-data"
want=$(cat "$root"/.local/images/*.inputs | sha256sum | cut -c1-64)
if [ "$(cat "$regdata.inputs" 2>/dev/null)" != "$want" ]; then
  rm -rf "$regdata" "$cache/run"; mkdir -p "$regdata" "$cache/run"
  port=${LAB_BUILD_REGISTRY_PORT:-5099}
  export REGISTRY_ADDR=127.0.0.1:$port KUBELAB_REGISTRY_DIR="$regdata" KUBELAB_RUN_DIR="$cache/run" KUBELAB_LOG_DIR="$cache"
  "$root/hack/node/registry.sh" start >&2
  trap '"$root/hack/node/registry.sh" stop >&2 || true' EXIT
  "$root/hack/node/registry.sh" push >&2
  "$root/hack/node/registry.sh" stop >&2; trap - EXIT
  rm -f "$regdata"/.kubelab-pushed-*
  echo "$want" > "$regdata.inputs"
  log "registry content rebuilt ($(du -sh "$regdata" | cut -f1))"
fi

# ---- images ---------------------------------------------------------------------------
# stage NAME FILE...: a fresh build context with exactly these files (dirs copied whole).
stage() {
  local name=$1; shift
  local d="$ctxs/$name"; rm -rf "$d"; mkdir -p "$d"
  for f in "$@"; do cp -a "$f" "$d/"; done
}
ctx_hash() {
  (cd "$ctxs/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum; find . -type f -printf '%p %m\n' | sort
   sha256sum < "$lab/Dockerfile.$1"; echo "$base") | sha256sum | cut -c1-64
}
build() {
  local name=$1 ref="kubelab/$1:$tag" h; h=$(ctx_hash "$name")
  if [ "$(docker image inspect -f '{{index .Config.Labels "io.kubelab.hash"}}' "$ref" 2>/dev/null)" = "$h" ]; then
    log "$ref up to date"; return 0
  fi
  log "building $ref"
  DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$base" --label "io.kubelab.hash=$h" \
    -f "$lab/Dockerfile.$name" -t "$ref" "$ctxs/$name" >/dev/null 2>"$cache/docker-build-$name.log" ||
    { log "docker build $name failed:"; grep -v -i deprecat "$cache/docker-build-$name.log" | tail -20 >&2; exit 1; }
}

stage etcd "$lab/etcd.sh"; build etcd
stage registry "$lab/registry.yml" "$regdata"; build registry
if [ -n "${built[apiserver]:-}" ]; then stage apiserver "$bin/apiserver" "$lab/apiserver.sh"; build apiserver; fi
for c in controller-manager scheduler; do
  if [ -n "${built[$c]:-}" ]; then stage "$c" "$bin/$c"; build "$c"; fi
done
if [ -n "${built[kubelet]:-}" ]; then
  kubelet_bin="$bin/kubelet"
else
  kubelet_bin="$cache/kubelet-stub/kubelet"; mkdir -p "$(dirname "$kubelet_bin")"
  printf '#!/bin/sh\n# stub: ./kubelet/cmd/kubelet did not build when this image was made\n[ "$1" = -h ] && exit 0\necho "kubelet: not built yet (stub); containerd keeps running" >&2\nexec sleep infinity\n' > "$kubelet_bin"
  chmod +x "$kubelet_bin"
  log "node image gets a STUB kubelet (containerd only)"
fi
if [ -n "${built[proxy]:-}" ]; then
  proxy_bin="$bin/proxy"
else
  proxy_bin="$cache/proxy-stub/proxy"; mkdir -p "$(dirname "$proxy_bin")"
  printf '#!/bin/sh\n# stub: ./proxy/cmd/proxy did not build when this image was made\necho "proxy: not built yet (stub)" >&2\nexec sleep infinity\n' > "$proxy_bin"
  chmod +x "$proxy_bin"
  log "node image gets a STUB proxy (no Service rules)"
fi
stage node "$kubelet_bin" "$proxy_bin" "$lab/node.sh" "$lab/node-routes.sh" "$root/deploy/node/containerd-config.toml" "$root/deploy/node/certs.d"
build node
# Images made by earlier builds and no longer tagged.
docker image prune -f --filter label=io.kubelab.hash >/dev/null 2>&1 || true
log "done in $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo 0)") s; base $base"
