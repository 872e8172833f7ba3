#!/usr/bin/env bash
# make lab-down: remove every container, network and volume of the lab (docker-compose down
# -v --remove-orphans), then anything of ours that survived (containers labelled with the
# compose project, the kubelab network, the project's volumes), and the pod cgroups the nodes'
# runc made in the host's cgroup hierarchy (/kubepods-node-N). Images stay (LAB_RMI=1 removes
# them too); deploy/.lab (PKI) stays (LAB_CLEAN=1 removes it).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
dc down -v --remove-orphans --timeout 10
for c in $(docker ps -aq --filter "label=com.docker.compose.project=$LAB_PROJECT"); do docker rm -fv "$c" >/dev/null; done
docker network rm kubelab >/dev/null 2>&1 || true
for v in $(docker volume ls -q --filter "label=com.docker.compose.project=$LAB_PROJECT"); do docker volume rm "$v" >/dev/null; done
# Empty cgroup directories the nodes' pods left on the host (runc removes only the leaves).
for d in /sys/fs/cgroup/*/kubepods-node-*; do
  [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
done
if [ "${LAB_RMI:-}" = 1 ]; then
  docker images --format '{{.Repository}}:{{.Tag}}' | grep '^kubelab/' | xargs -r docker rmi >/dev/null
fi
[ "${LAB_CLEAN:-}" = 1 ] && rm -rf "$LAB_DIR"
echo "lab: down"
