#!/usr/bin/env bash
# The main job against a fresh simulator: start dvp-sim, run playbooks/demo.yml, show the result with kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
STATE=${DEMO_STATE_DIR:-.state/demo}
rm -rf "$STATE"
mkdir -p "$STATE"
export KUBECONFIG="$PWD/$STATE/kubeconfig"

coproc SIM { exec "$BIN/dvp-sim" serve --port 0 --state-dir "$STATE" --kubeconfig "$KUBECONFIG" 2>"$STATE/server.log"; }
trap 'kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true' EXIT
read -r ready <&"${SIM[0]}"
echo "$ready"

echo "== kubectl api-resources (DVP kinds)"
"$BIN/kubectl" api-resources --api-group=virtualization.deckhouse.io

echo "== ansible-playbook playbooks/demo.yml"
K8S_AUTH_KUBECONFIG="$KUBECONFIG" ANSIBLE_PYTHON_INTERPRETER="$PWD/$BIN/python" \
  "$BIN/ansible-playbook" playbooks/demo.yml

echo "== kubectl get cvi,vmclass -o wide"
"$BIN/kubectl" get clustervirtualimages -o wide
"$BIN/kubectl" get virtualmachineclasses
echo "== kubectl get vmop -A"
"$BIN/kubectl" get vmop -A
