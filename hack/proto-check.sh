#!/usr/bin/env bash
# Fails when the committed generated code is not what `make proto` would write.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$root/proto" "$root/hack" "$scratch/"
"$scratch/hack/proto.sh"
stale=0
for dir in api apidocs; do
  if ! diff -r -q --exclude='*_test.go' --exclude=testdata "$root/proto/$dir" "$scratch/proto/$dir" >/dev/null; then
    diff -r "$root/proto/$dir" "$scratch/proto/$dir" | head -40
    stale=1
  fi
done
if [ "$stale" = 1 ]; then
  echo "generated code is stale: run 'make proto' and commit the result" >&2
  exit 1
fi
echo "generated code is up to date"
