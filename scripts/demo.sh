#!/usr/bin/env bash
# `make demo`: the admin guide end to end against a simulated cluster, told step by step with the kubectl tables an
# admin would look at. A simulator with the guide's blue/green topology (dvp-sim, its image sources held to
# DEMO_IMAGE_BANDWIDTH so imports take a few seconds), image sources on loopback (a file server, Debian's
# docker-registry with TLS and a password, a file to upload), then playbooks/demo.yml one tag at a time: the
# ModuleConfig, the three images, the three vCPU Discovery classes, three VMs; an Evict of linux-vm, a drain and
# uncordon of its node, a ColdStandby failover (its node powered off, fenced, the VM restarted elsewhere, the node
# recovered), and the VMs as an Ansible inventory. Every process it starts is stopped on exit or Ctrl-C.
#
#   DEMO_STATE_DIR        where everything is kept (default .state/demo; emptied at start)
#   DEMO_IMAGE_BANDWIDTH  the simulator's --image-bandwidth (default 8Mi: bytes per second per import)
#   DEMO_TIME_SCALE       the simulator's --time-scale (default 1: simulated seconds per real second)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=${DEMO_STATE_DIR:-$ROOT/.state/demo}
BANDWIDTH=${DEMO_IMAGE_BANDWIDTH:-8Mi}
TIME_SCALE=${DEMO_TIME_SCALE:-1}
NS=vms
export PATH="$ROOT/.venv/bin:$PATH"  # kubectl, ansible-playbook, dvp-sim and python of the project's venv
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.venv/collections" ANSIBLE_PYTHON_INTERPRETER="$ROOT/.venv/bin/python"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
umask 077
BEGAN=$SECONDS

PIDS=()  # every background process of the demo, stopped on exit
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'echo "demo: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'echo; echo "demo interrupted: stopping the simulator and the image sources" >&2; exit 130' INT TERM

if [ -t 1 ]; then BOLD=$'\e[1m' PLAIN=$'\e[0m'; export ANSIBLE_FORCE_COLOR=true; else BOLD='' PLAIN=''; fi
STEP=0
step() {  # a step of the story, with the time since the start
  STEP=$((STEP + 1))
  printf '\n%s%d. %s%s   [%d:%02d]\n' "$BOLD" "$STEP" "$*" "$PLAIN" $(((SECONDS - BEGAN) / 60)) $(((SECONDS - BEGAN) % 60))
}
say() { printf '%s\n' "$*" | fold -s -w 116 | sed 's/ *$//; s/^/   /'; }  # plain words about it, one paragraph
show() { printf '\n$ %s\n' "$*"; "$@"; }  # a command, printed as an admin would type it, then run
shown() { printf '\n$ %s\n' "$*"; }  # a command the demo runs differently (a pipeline, a watch in the background)
fail() { echo "demo: $*" >&2; exit 1; }
# ansible-playbook prints the header of every play, also of the plays --tags leaves empty: keep those that ran.
ran_plays() {
  awk '/^PLAY \[/ { held = $0; next }
       held != "" && /^$/ { next }
       /^PLAY RECAP/ { held = "" }
       held != "" { print held; print ""; held = "" }
       { print; fflush() }'
}
play() {
  shown ansible-playbook playbooks/demo.yml -e "@$STATE/demo-vars.yml" --tags "$@"
  PYTHONUNBUFFERED=1 ansible-playbook playbooks/demo.yml -e "@$STATE/demo-vars.yml" --tags "$@" 2>&1 | ran_plays
}
WATCHES=()  # `kubectl get -w` in the background while a play runs; printed after it
watch_start() { local log=$1; shift; kubectl "$@" >"$log" 2>/dev/null & WATCHES+=("$!"); PIDS+=("$!"); }
watch_stop() {
  local pid
  sleep 1
  for pid in "${WATCHES[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  WATCHES=()
}
vm_field() { kubectl -n "$NS" get vm "$1" -o jsonpath="$2"; }
node_ready() { kubectl get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null; }

rm -rf "$STATE"
mkdir -p "$STATE"
export KUBECONFIG="$STATE/kubeconfig" K8S_AUTH_KUBECONFIG="$STATE/kubeconfig"

step "A simulated Deckhouse Virtualization Platform cluster"
say "dvp-sim serves the Kubernetes API of a DVP cluster with the admin guide's nodes: two 'blue' workers with an older" \
  "CPU, two 'green' ones with a newer CPU, and a control-plane node; the workers have Watchdog fencing. Each image" \
  "import reads its source at most at $BANDWIDTH/s (--image-bandwidth), as over a real link. Where the platform would" \
  "wait for minutes, the demo steps the simulated clock forward (dvp-sim clock advance)."
coproc SIM { exec dvp-sim serve --port 0 --state-dir "$STATE/sim" --kubeconfig "$KUBECONFIG" --time-scale "$TIME_SCALE" \
  --topology simulator/dvp_simulator/topologies/admin-guide.yaml --image-bandwidth "$BANDWIDTH" 2>"$STATE/server.log"; }
PIDS+=("$SIM_PID")
read -r ready <&"${SIM[0]}" || fail "the simulator did not start; see $STATE/server.log"
printf '\n%s\n' "$ready"
show kubectl get nodes -o wide
echo
say "The CPU models blue-0 can run, as the guide's jq command lists them from the node labels:"
shown "kubectl get nodes blue-0 -o json | jq '.metadata.labels | to_entries[] | select(.key | test(\"cpu-model.node.virtualization.deckhouse.io\")) | .key | split(\"/\")[1]' -r"
kubectl get nodes blue-0 -o json | jq -r '.metadata.labels | to_entries[] | select(.key | test("cpu-model.node.virtualization.deckhouse.io")) | .key | split("/")[1]' | tr '\n' ' ' | fold -s -w 119
echo

step "Image sources on this machine"
python scripts/demo_sources.py "$STATE" >"$STATE/sources.env"
source_fact() { sed -n "s/^$1=//p" "$STATE/sources.env"; }
REGISTRY=$(source_fact registry_host)
: >"$STATE/http.log"
python -u -m http.server --bind 127.0.0.1 --directory "$(source_fact www)" 0 >"$STATE/http.log" 2>&1 &
PIDS+=("$!")
docker-registry serve "$STATE/registry/config.yml" >"$STATE/registry.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
  HTTP_PORT=$(sed -n 's/.*Serving HTTP on 127.0.0.1 port \([0-9]*\).*/\1/p' "$STATE/http.log")
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$STATE/registry/certs/ca.crt" "https://$REGISTRY/v2/" || true)
  [[ -n $HTTP_PORT && $code == 401 ]] && break
  sleep 0.1
done
[ -n "$HTTP_PORT" ] || fail "the file server did not start; see $STATE/http.log"
[ "$code" = 401 ] || fail "docker-registry did not start; see $STATE/registry.log"
IMAGE_URL="http://127.0.0.1:$HTTP_PORT/$(source_fact http_file)"
say "The guide downloads an Ubuntu cloud image over HTTP, pushes a minimal one to a container registry (a Dockerfile" \
  "FROM scratch, COPY ubuntu2204.img /disk/) and uploads CirrOS from the admin's machine. Here all three are on loopback:"
say "- HTTP: $IMAGE_URL ($(source_fact about_http)), served by python -m http.server"
say "- registry: $REGISTRY/ubuntu2204:latest ($(source_fact about_registry)), on Debian's docker-registry with TLS" \
  "(a CA of the demo's own) and a password"
say "- upload: $(source_fact upload_file) ($(source_fact about_upload))"
echo
say "The registry image is pushed with skopeo from an OCI layout (what docker build and docker push do in the guide):"
show skopeo --insecure-policy copy --quiet --dest-cert-dir "$STATE/registry/certs" --dest-authfile "$STATE/registry/auth.json" \
  "oci:$STATE/registry/layout:latest" "docker://$REGISTRY/ubuntu2204:latest"
echo
say "The cluster pulls from the registry with a dockerconfigjson Secret (made from the file: the password is not shown):"
show kubectl -n default create secret generic demo-registry --type=kubernetes.io/dockerconfigjson \
  --from-file=.dockerconfigjson="$STATE/registry/auth.json"
cat >"$STATE/demo-vars.yml" <<EOF
# playbooks/demo.yml's variables for this run (the cluster comes from KUBECONFIG / K8S_AUTH_KUBECONFIG)
demo_image_url: $IMAGE_URL
demo_registry_image: $REGISTRY/ubuntu2204:latest
demo_registry_ca_bundle: $(source_fact registry_ca_bundle)
demo_registry_pull_secret: {name: demo-registry, namespace: default}
demo_upload_file: $(source_fact upload_file)
EOF
echo
say "playbooks/demo.yml gets these addresses, the registry's CA and the Secret's name from $STATE/demo-vars.yml;" \
  "the cluster from KUBECONFIG, as kubectl does."

step "Module parameters: the ModuleConfig virtualization (role module_config)"
play module_config
show kubectl get moduleconfig virtualization
shown "kubectl get moduleconfig virtualization -o jsonpath='{.spec.settings}' | jq ."
kubectl get moduleconfig virtualization -o jsonpath='{.spec.settings}' | jq .

step "Images from HTTP, from the container registry and uploaded (role images)"
say "The role creates the three ClusterVirtualImages at once (the module sends the upload itself), then waits until" \
  "each is Ready. Meanwhile 'kubectl get cvi ubuntu-22-04 -w' follows the HTTP import, as in the guide."
watch_start "$STATE/cvi-watch.log" get cvi -w --field-selector metadata.name=ubuntu-22-04
play images
watch_stop
shown "kubectl get cvi ubuntu-22-04 -w    # while the play ran"
cat "$STATE/cvi-watch.log"
grep -q ' Provisioning .*%' "$STATE/cvi-watch.log" || fail "the watch did not see ubuntu-22-04 Provisioning with its progress"
show kubectl get cvi
shown "kubectl get cvi -o custom-columns=NAME:.metadata.name,SOURCE:.spec.dataSource.type,FORMAT:.status.format,SIZE:.status.size.unpacked,SPEED:.status.downloadSpeed.avg"
kubectl get cvi -o custom-columns=NAME:.metadata.name,SOURCE:.spec.dataSource.type,FORMAT:.status.format,SIZE:.status.size.unpacked,SPEED:.status.downloadSpeed.avg
echo
say "SPEED is status.downloadSpeed.avg: the simulator held each source to $BANDWIDTH/s."

step "Virtual machine classes: the guide's vCPU Discovery example (role vm_classes)"
say "universal may run on every node, with the CPU features all nodes share; cpux only on the blue nodes and cpuy only" \
  "on the green ones, each with the features of its own group. generic is the platform's own class."
play classes
show kubectl get vmclass
echo
say "The nodes each class may run on (status.availableNodes):"
for class in generic universal cpux cpuy; do
  say "  $class: $(kubectl get vmclass "$class" -o jsonpath='{.status.availableNodes}' | jq -r 'join(" ")')"
done

step "VMs: linux-vm (class generic), blue-vm (cpux) and green-vm (cpuy), each on a disk from ubuntu-22-04 (role vms)"
play vms
show kubectl -n "$NS" get vd
show kubectl -n "$NS" get vm -o wide
show kubectl -n "$NS" get vmip
[[ $(vm_field blue-vm '{.status.nodeName}') == blue-* ]] || fail "blue-vm (class cpux) does not run on a blue node"
[[ $(vm_field green-vm '{.status.nodeName}') == green-* ]] || fail "green-vm (class cpuy) does not run on a green node"
echo
say "Each node's hypervisor (the simulator's admin API; virsh list on a real node):"
for node in $(kubectl get nodes -o name | cut -d/ -f2); do
  say "  $node: $(kubectl get --raw "/simulator/v1/nodes/$node" | jq -r '[.domains[] | "\(.name) \(.state)"] | join(", ") | if . == "" then "-" else . end')"
done
echo
say "Each node's CPU and memory as kubectl top shows them (the simulator's usage model: what the running pods request):"
show kubectl top node
echo
say "As an admin looks inside a VM's pod: virsh in blue-vm's virt-launcher, answered by its node's libvirt (the CPU the class discovered):"
POD=$(kubectl -n "$NS" get pods -l vm.kubevirt.internal.virtualization.deckhouse.io/name=blue-vm -o jsonpath='{.items[0].metadata.name}')
show kubectl -n "$NS" exec "$POD" -- virsh list
shown "kubectl -n $NS exec $POD -- virsh dumpxml ${NS}_blue-vm | grep -A4 '<cpu'"
kubectl -n "$NS" exec "$POD" -- virsh dumpxml "${NS}_blue-vm" | grep -A4 '<cpu' || fail "no CPU in blue-vm's domain XML"

step "Migration: an Evict of linux-vm while 'kubectl get vm -w' watches"
BEFORE=$(vm_field linux-vm '{.status.nodeName}')
watch_start "$STATE/evict-watch.log" -n "$NS" get vm linux-vm -w
play evict
watch_stop
shown "kubectl -n $NS get vm linux-vm -w    # while the play ran"
cat "$STATE/evict-watch.log"
AFTER=$(vm_field linux-vm '{.status.nodeName}')
grep -q Migrating "$STATE/evict-watch.log" || fail "the watch did not show linux-vm Migrating"
[[ -n $AFTER && $AFTER != "$BEFORE" ]] || fail "linux-vm did not move off $BEFORE"
show kubectl -n "$NS" get vmop
POD=$(vm_field linux-vm '{.status.virtualMachinePods[0].name}')
shown "kubectl -n $NS logs $POD    # the new virt-launcher: the domain it received"
kubectl -n "$NS" logs "$POD" | jq -c '{msg, node, sourceNode}'
kubectl -n "$NS" logs "$POD" | grep -q "incoming live migration" || fail "the new virt-launcher did not log the migrated domain"
echo
say "linux-vm moved live from $BEFORE to $AFTER, keeping its IP."

step "Maintenance mode: drain $AFTER, then uncordon it (role node_maintenance)"
say "The role checks that every VM on the node has somewhere to go, cordons and drains the node (its VMs migrate" \
  "live), then uncordons it and waits until it is usable again."
show kubectl get nodes
watch_start "$STATE/drain-nodes.log" get node "$AFTER" -w
watch_start "$STATE/drain-vms.log" -n "$NS" get vm -w
play maintenance
watch_stop
shown "kubectl get node $AFTER -w    # while the play ran"
cat "$STATE/drain-nodes.log"
shown "kubectl -n $NS get vm -w    # while the play ran"
cat "$STATE/drain-vms.log"
grep -q SchedulingDisabled "$STATE/drain-nodes.log" || fail "the watch did not see $AFTER cordoned"
show kubectl get nodes
show kubectl -n "$NS" get vm -o wide
FINAL=$(vm_field linux-vm '{.status.phase} {.status.nodeName}')
[[ ${FINAL%% *} == Running && ${FINAL#* } != "$AFTER" ]] || fail "linux-vm is not Running off $AFTER: $FINAL"
[ -z "$(kubectl get node "$AFTER" -o jsonpath='{.spec.unschedulable}')" ] || fail "$AFTER is still cordoned"

step "ColdStandby: linux-vm's node loses power"
VICTIM=$(vm_field linux-vm '{.status.nodeName}')
say "linux-vm (runPolicy $(vm_field linux-vm '{.spec.runPolicy}')) runs on $VICTIM, which has Watchdog fencing. The node" \
  "is powered off. After 40 s without a heartbeat its Node is NotReady; after 60 s the node is fenced (its pods are" \
  "force-deleted; a Static node's Node stays, NotReady) and the platform starts linux-vm on another node. The demo steps the simulated clock over those minutes."
watch_start "$STATE/failover-watch.log" -n "$NS" get vm linux-vm -w
show dvp-sim node fail "$VICTIM" --mode power --kubeconfig "$KUBECONFIG"
show dvp-sim clock advance 41 --kubeconfig "$KUBECONFIG"
for _ in $(seq 30); do
  [ "$(node_ready "$VICTIM")" != True ] && break
  sleep 0.1
done
shown "kubectl get nodes    # $VICTIM silent for 40 s: NotReady"
kubectl get nodes
show kubectl -n "$NS" get vm linux-vm -o wide
show dvp-sim clock advance 20 --kubeconfig "$KUBECONFIG"
FAILOVER=
for _ in $(seq 60); do
  FAILOVER=$(vm_field linux-vm '{.status.phase} {.status.nodeName}')
  if [[ ${FAILOVER%% *} == Running && -n ${FAILOVER#* } && ${FAILOVER#* } != "$VICTIM" ]]; then break; fi
  FAILOVER=
  dvp-sim clock advance 2 --kubeconfig "$KUBECONFIG" >/dev/null  # step over the cold boot
  sleep 0.5
done
watch_stop
[ -n "$FAILOVER" ] || fail "linux-vm did not restart off $VICTIM: $(kubectl -n "$NS" get vm linux-vm -o wide)"
shown "kubectl get nodes    # $VICTIM fenced: a Static node, its Node stays NotReady"
kubectl get nodes
shown "kubectl -n $NS get vm linux-vm -w    # during the failover"
cat "$STATE/failover-watch.log"
show kubectl -n "$NS" get vm -o wide
echo
say "linux-vm: $VICTIM -> ${FAILOVER#* }, a cold restart (the guest booted again; UPTIME starts over)."
show dvp-sim node recover "$VICTIM" --kubeconfig "$KUBECONFIG"
for _ in $(seq 100); do
  [ "$(node_ready "$VICTIM")" = True ] && break
  sleep 0.2
done
[ "$(node_ready "$VICTIM")" = True ] || fail "$VICTIM did not come back Ready"
show kubectl get nodes
FINAL=$(vm_field linux-vm '{.status.phase} {.status.nodeName}')
[ "$FINAL" = "$FAILOVER" ] || fail "linux-vm moved after the recovery: $FAILOVER -> $FINAL"
echo
say "$VICTIM is back and empty; linux-vm stays Running on ${FAILOVER#* }."

step "The VMs as an Ansible inventory (inventory plugin deckhouse.virtualization.dvp)"
cat >"$STATE/demo.dvp.yml" <<EOF
# The VMs of namespace $NS as hosts (the cluster comes from K8S_AUTH_KUBECONFIG, as for the modules).
plugin: deckhouse.virtualization.dvp
namespaces: [$NS]
EOF
show cat "$STATE/demo.dvp.yml"
show ansible-inventory -i "$STATE/demo.dvp.yml" --graph
show ansible all -i "$STATE/demo.dvp.yml" -m ansible.builtin.debug -a var=ansible_host

step "Done"
say "Everything the demo made is in $STATE (the simulator's log is server.log there). The simulator, the file server" \
  "and the registry stop now."
