#!/usr/bin/env bash
# The main job against a fresh simulated cluster: the admin guide's nodes, images and VM classes, declared with
# the collection's modules (playbooks/demo.yml) and shown with kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
STATE=${DEMO_STATE_DIR:-$ROOT/.state/demo}
rm -rf "$STATE"
mkdir -p "$STATE/www"
export KUBECONFIG="$STATE/kubeconfig"

# A cloud image, as the admin guide's example downloads one, served on loopback (no other network here).
"$BIN/python" - "$STATE/www/jammy-server-cloudimg-amd64.img" <<'PY'
import subprocess, sys
path = sys.argv[1]
subprocess.run(["qemu-img", "create", "-q", "-f", "raw", path + ".raw", "256M"], check=True)
with open(path + ".raw", "r+b") as disk:  # a boot sector's worth of data, so it is not an empty disk
    disk.write(bytes(range(256)) * 2048)
subprocess.run(["qemu-img", "convert", "-q", "-O", "qcow2", path + ".raw", path], check=True)
PY
rm -f "$STATE/www/"*.raw
"$BIN/python" -m http.server --bind 127.0.0.1 --directory "$STATE/www" 0 > "$STATE/http.log" 2>&1 &
HTTP_PID=$!
coproc SIM { exec "$BIN/dvp-sim" serve --port 0 --state-dir "$STATE/sim" --kubeconfig "$KUBECONFIG" \
  --topology simulator/dvp_simulator/topologies/admin-guide.yaml --time-scale 10 2>"$STATE/server.log"; }
trap 'kill "$SIM_PID" "$HTTP_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true' EXIT
read -r ready <&"${SIM[0]}"
echo "$ready"
for _ in $(seq 50); do grep -q "Serving HTTP" "$STATE/http.log" && break; sleep 0.1; done
IMAGE_URL=$(sed -n 's#.*(http://\([^/]*\)/).*#http://\1/jammy-server-cloudimg-amd64.img#p' "$STATE/http.log" | head -1)

echo "== kubectl get nodes -o wide"
"$BIN/kubectl" get nodes -o wide
echo "== CPU models of blue-0 (the admin guide's jq command)"
"$BIN/kubectl" get nodes blue-0 -o json | jq '.metadata.labels | to_entries[] | select(.key | test("cpu-model.node.virtualization.deckhouse.io")) | .key | split("/")[1]' -r | tr '\n' ' '
echo

echo "== ansible-playbook playbooks/demo.yml"
ANSIBLE_COLLECTIONS_PATH="$ROOT/.venv/collections" ANSIBLE_PYTHON_INTERPRETER="$BIN/python" \
  "$BIN/ansible-playbook" playbooks/demo.yml -e "kubeconfig=$KUBECONFIG image_url=$IMAGE_URL upload_file=$STATE/www/jammy-server-cloudimg-amd64.img"

echo "== kubectl get cvi -o wide"
"$BIN/kubectl" get clustervirtualimages -o wide
echo "== kubectl get vmclass"
"$BIN/kubectl" get virtualmachineclasses
for class in universal cpux cpuy; do
  echo "   $class: $("$BIN/kubectl" get vmclass "$class" -o jsonpath='{.status.availableNodes}')"
done
