#!/usr/bin/env bash
# The local OCI registry that containerd uses as the mirror of docker.io and registry.k8s.io.
#
#   hack/node/registry.sh start   run Debian's docker-registry on $REGISTRY_ADDR (127.0.0.1:5000)
#   hack/node/registry.sh push    copy the images of .local/images into it (skopeo), if changed
#   hack/node/registry.sh stop    stop it (the data stays)
#   hack/node/registry.sh status
#
# Env: REGISTRY_ADDR (127.0.0.1:5000), KUBELAB_REGISTRY_DIR (/var/lib/kubelab/registry),
#      KUBELAB_RUN_DIR (/run/kubelab), KUBELAB_LOG_DIR (/var/log/kubelab),
#      KUBELAB_IMAGES_DIR (<repo>/.local/images).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
addr="${REGISTRY_ADDR:-127.0.0.1:5000}"
data="${KUBELAB_REGISTRY_DIR:-/var/lib/kubelab/registry}"
run="${KUBELAB_RUN_DIR:-/run/kubelab}"
logs="${KUBELAB_LOG_DIR:-/var/log/kubelab}"
images="${KUBELAB_IMAGES_DIR:-$root/.local/images}"
pidf="$run/registry.pid"
bin=/usr/bin/docker-registry

# The registry answers on the loopback even when it listens on all addresses.
probe_addr="$addr"; case "$addr" in 0.0.0.0:*|:*) probe_addr="127.0.0.1:${addr##*:}";; esac
answers() { curl -fsS -o /dev/null --max-time 1 "http://$probe_addr/v2/" 2>/dev/null; }
running() { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }

start() {
  if answers; then echo "registry: answering on $addr"; return 0; fi
  [ -x "$bin" ] || { echo "registry: $bin missing; run hack/node/install.sh" >&2; exit 1; }
  mkdir -p "$data" "$run" "$logs"
  REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$data" REGISTRY_HTTP_ADDR="$addr" \
    setsid "$bin" serve "$root/deploy/node/registry.yml" >>"$logs/registry.log" 2>&1 < /dev/null &
  echo $! > "$pidf"
  for _ in $(seq 100); do
    if answers; then echo "registry: started on $addr (pid $(cat "$pidf"), data $data, log $logs/registry.log)"; return 0; fi
    running || break
    sleep 0.1
  done
  echo "registry: did not come up; last log lines:" >&2; tail -20 "$logs/registry.log" >&2; exit 1
}

stop() {
  if running; then
    kill "$(cat "$pidf")"; for _ in $(seq 50); do running || break; sleep 0.1; done
    echo "registry: stopped"
  else
    echo "registry: not running (no live pid in $pidf)"
  fi
  rm -f "$pidf"
}

# push NAME REPO:TAG: copy OUT/NAME.tar to the registry unless the same build is there.
push_one() {
  local name=$1 ref=$2 stamp="$data/.kubelab-pushed-${2//[\/:]/_}"
  local inputs; inputs=$(cat "$images/$name.inputs" 2>/dev/null || sha256sum < "$images/$name.tar")
  if [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ] &&
     curl -fsS -o /dev/null --max-time 2 -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
       "http://$probe_addr/v2/${ref%:*}/manifests/${ref##*:}"; then
    echo "registry: $ref up to date"; return 0
  fi
  skopeo copy --quiet --insecure-policy --dest-tls-verify=false \
    "docker-archive:$images/$name.tar" "docker://$probe_addr/$ref"
  echo "$inputs" > "$stamp"
  echo "registry: pushed $ref"
}

push() {
  answers || { echo "registry: not answering on $addr; run '$0 start'" >&2; exit 1; }
  for f in nginx-1.14.2 pause-3.9 dns-1.0.0; do
    [ -f "$images/$f.tar" ] || { echo "registry: $images/$f.tar missing; run hack/node/build-images.sh" >&2; exit 1; }
  done
  push_one nginx-1.14.2 library/nginx:1.14.2
  push_one pause-3.9 pause:3.9
  push_one pause-3.9 pause:3.6
  push_one dns-1.0.0 kubelab/dns:1.0.0
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  push) push ;;
  status) if answers; then echo "registry: answering on $addr"; curl -fsS "http://$probe_addr/v2/_catalog"; else echo "registry: down"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|push|status" >&2; exit 2 ;;
esac
