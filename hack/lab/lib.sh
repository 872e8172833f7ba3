# Shared by hack/lab/*.sh (sourced).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LAB_DIR="${LAB_DIR:-$root/deploy/.lab}"
LAB_PROJECT="${LAB_PROJECT:-kubelab}"
LAB_COMPOSE_FILE="$root/deploy/lab/docker-compose.yml"
export LAB_API_PORT="${LAB_API_PORT:-16443}" LAB_GRPC_PORT="${LAB_GRPC_PORT:-16444}"
export KUBECONFIG="$LAB_DIR/admin.kubeconfig"
dc() { docker-compose --no-ansi -p "$LAB_PROJECT" -f "$LAB_COMPOSE_FILE" "$@" 2> >(grep -v -e 'no-ansi' -e 'is deprecated' >&2); }
# kubectl: kubelab's own when built, else the stock one.
if [ -x "$root/bin/kubectl" ]; then KUBECTL="$root/bin/kubectl"; else KUBECTL=$(command -v kubectl); fi
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
say() { echo "lab: $*"; }
