#!/usr/bin/env bash
# The main job against a fresh simulated cluster: the admin guide's nodes, module configuration, images, VM classes,
# a disk and the guide's linux-vm running with its IP, declared with the collection's modules (playbooks/demo.yml),
# shown with kubectl, then the VM stopped and started again with the vm module's states, live-migrated by an Evict
# operation (vm_operation) while `kubectl get vm -w` watches, and its node drained and uncordoned (the role
# node_maintenance); finally a ColdStandby failover: linux-vm's node powered off (`dvp-sim node fail --mode power`;
# the topology's workers have Watchdog fencing), the clock stepped past the 60 s fencing, linux-vm Running on another
# node, and the node recovered.
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
WATCH_PID=
trap 'kill $WATCH_PID "$SIM_PID" "$HTTP_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true' EXIT
read -r ready <&"${SIM[0]}"
echo "$ready"
for _ in $(seq 50); do grep -q "Serving HTTP" "$STATE/http.log" && break; sleep 0.1; done
IMAGE_URL=$(sed -n 's#.*(http://\([^/]*\)/).*#http://\1/jammy-server-cloudimg-amd64.img#p' "$STATE/http.log" | head -1)

echo "== kubectl get nodes -o wide"
"$BIN/kubectl" get nodes -o wide
echo "== CPU models of blue-0 (the admin guide's jq command)"
"$BIN/kubectl" get nodes blue-0 -o json | jq '.metadata.labels | to_entries[] | select(.key | test("cpu-model.node.virtualization.deckhouse.io")) | .key | split("/")[1]' -r | tr '\n' ' '
echo

PLAYBOOK=("$BIN/ansible-playbook" playbooks/demo.yml
  -e "kubeconfig=$KUBECONFIG image_url=$IMAGE_URL upload_file=$STATE/www/jammy-server-cloudimg-amd64.img")
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.venv/collections" ANSIBLE_PYTHON_INTERPRETER="$BIN/python"

echo "== kubectl create namespace vms"
"$BIN/kubectl" create namespace vms
echo "== ansible-playbook playbooks/demo.yml --tags cluster"
"${PLAYBOOK[@]}" --tags cluster

echo "== kubectl get moduleconfig virtualization"
"$BIN/kubectl" get moduleconfig virtualization -o jsonpath='{.spec.settings}' | jq -c .
echo "== kubectl get cvi -o wide"
"$BIN/kubectl" get clustervirtualimages -o wide
echo "== kubectl get vmclass"
"$BIN/kubectl" get virtualmachineclasses
for class in generic universal cpux cpuy; do
  echo "   $class: $("$BIN/kubectl" get vmclass "$class" -o jsonpath='{.status.availableNodes}')"
done
echo "== kubectl -n vms get vd"
"$BIN/kubectl" -n vms get vd
echo "== kubectl -n vms get vm -o wide"
"$BIN/kubectl" -n vms get vm -o wide
echo "== kubectl -n vms get vmip,vmipl"
"$BIN/kubectl" -n vms get vmip,vmipl
echo "== kubectl -n vms get pods -o wide (the VM's virt-launcher pod)"
"$BIN/kubectl" -n vms get pods -o wide
NODE=$("$BIN/kubectl" -n vms get vm linux-vm -o jsonpath='{.status.nodeName}')
echo "== libvirt domains per node (the simulator's admin API): linux-vm's only on $NODE"
for node in $("$BIN/kubectl" get nodes -o name | cut -d/ -f2); do
  echo "   $node: $("$BIN/kubectl" get --raw "/simulator/v1/nodes/$node" | jq -c '[.domains[] | "\(.name) \(.state)"]')"
done

echo "== ansible-playbook playbooks/demo.yml --tags power"
"${PLAYBOOK[@]}" --tags power
echo "== kubectl -n vms get vmop"
"$BIN/kubectl" -n vms get vmop
echo "== kubectl -n vms get vm -o wide"
"$BIN/kubectl" -n vms get vm -o wide

BEFORE=$("$BIN/kubectl" -n vms get vm linux-vm -o jsonpath='{.status.nodeName}')
echo "== kubectl -n vms get vm -w (in the background) while ansible-playbook playbooks/demo.yml --tags evict"
"$BIN/kubectl" -n vms get vm linux-vm -w > "$STATE/watch.log" 2>&1 &
WATCH_PID=$!
sleep 1
"${PLAYBOOK[@]}" --tags evict
sleep 2
kill "$WATCH_PID"
wait "$WATCH_PID" 2>/dev/null || true
WATCH_PID=
cat "$STATE/watch.log"
AFTER=$("$BIN/kubectl" -n vms get vm linux-vm -o jsonpath='{.status.nodeName}')
grep -q Migrating "$STATE/watch.log" || { echo "the watch did not show linux-vm Migrating" >&2; exit 1; }
if [ -z "$AFTER" ] || [ "$AFTER" = "$BEFORE" ]; then echo "linux-vm did not move off $BEFORE" >&2; exit 1; fi
echo "   linux-vm: $BEFORE -> $AFTER"

echo "== ansible-playbook playbooks/demo.yml --tags maintenance -e maintenance_node=$AFTER"
"${PLAYBOOK[@]}" --tags maintenance -e "maintenance_node=$AFTER"
echo "== kubectl get nodes"
"$BIN/kubectl" get nodes
echo "== kubectl -n vms get vm -o wide"
"$BIN/kubectl" -n vms get vm -o wide
FINAL=$("$BIN/kubectl" -n vms get vm linux-vm -o jsonpath='{.status.phase} {.status.nodeName}')
if [ "${FINAL%% *}" != Running ] || [ "${FINAL#* }" = "$AFTER" ]; then echo "linux-vm is not Running off $AFTER: $FINAL" >&2; exit 1; fi
[ -z "$("$BIN/kubectl" get node "$AFTER" -o jsonpath='{.spec.unschedulable}')" ] || { echo "$AFTER is still cordoned" >&2; exit 1; }

echo "== ColdStandby failover: linux-vm's node powered off (fencing: Watchdog on every worker)"
"$BIN/kubectl" -n vms get vm -o wide
VICTIM=$("$BIN/kubectl" -n vms get vm linux-vm -o jsonpath='{.status.nodeName}')
[ -n "$VICTIM" ] || { echo "linux-vm runs nowhere" >&2; exit 1; }
echo "== dvp-sim node fail $VICTIM --mode power"
"$BIN/dvp-sim" node fail "$VICTIM" --mode power --kubeconfig "$KUBECONFIG"
echo "== dvp-sim clock advance 61 (past the 40 s node grace and the 60 s fencing)"
"$BIN/dvp-sim" clock advance 61 --kubeconfig "$KUBECONFIG"
FAILOVER=
for _ in $(seq 60); do
  FAILOVER=$("$BIN/kubectl" -n vms get vm linux-vm -o jsonpath='{.status.phase} {.status.nodeName}')
  if [ "${FAILOVER%% *}" = Running ] && [ -n "${FAILOVER#* }" ] && [ "${FAILOVER#* }" != "$VICTIM" ]; then break; fi
  FAILOVER=
  "$BIN/dvp-sim" clock advance 2 --kubeconfig "$KUBECONFIG" >/dev/null  # step over the cold boot
  sleep 0.5
done
[ -n "$FAILOVER" ] || { echo "linux-vm did not restart off $VICTIM: $("$BIN/kubectl" -n vms get vm linux-vm -o wide)" >&2; exit 1; }
echo "== kubectl get nodes ($VICTIM fenced: its Node deleted)"
"$BIN/kubectl" get nodes
echo "== kubectl -n vms get vm -o wide"
"$BIN/kubectl" -n vms get vm -o wide
echo "   linux-vm: $VICTIM -> ${FAILOVER#* } (a cold restart)"
echo "== dvp-sim node recover $VICTIM"
"$BIN/dvp-sim" node recover "$VICTIM" --kubeconfig "$KUBECONFIG"
for _ in $(seq 100); do
  [ "$("$BIN/kubectl" get node "$VICTIM" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ] && break
  sleep 0.2
done
"$BIN/kubectl" get nodes
[ "$("$BIN/kubectl" get node "$VICTIM" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ] || { echo "$VICTIM did not come back Ready" >&2; exit 1; }
FINAL=$("$BIN/kubectl" -n vms get vm linux-vm -o jsonpath='{.status.phase} {.status.nodeName}')
[ "$FINAL" = "$FAILOVER" ] || { echo "linux-vm moved after the recovery: $FAILOVER -> $FINAL" >&2; exit 1; }
echo "   linux-vm stays Running on ${FAILOVER#* }"
