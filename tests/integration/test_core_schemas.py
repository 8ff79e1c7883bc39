"""The built-in kinds' full schemas (schemas/builtin.py, generated from the kubernetes client's models, core.yaml laid
over them) as an admin meets them over HTTPS: `kubectl explain` lists every field of a Pod's containers and a Node's
status with its upstream type and description; an unknown field anywhere in a Pod is refused under kubectl's default
strict validation with kube-apiserver's message, warned about and dropped under Warn, dropped under Ignore; and a Pod
using most of what a Pod can say is accepted and read back as written."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
import yaml

PODS = "/api/v1/namespaces/{}/pods"


class Raw:
    """Plain HTTPS to the simulator with the kubeconfig's token and CA: the body goes as written, in its own order."""

    def __init__(self, sim):
        self.sim = sim
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {sim.token}"

    def call(self, method: str, path: str, body: object = None, params: dict | None = None) -> requests.Response:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        return self.session.request(method, self.sim.server + path, data=data, headers=headers, params=params, timeout=30, verify=str(self.sim.ca_file))


@pytest.fixture(scope="module")
def http(sim):
    return Raw(sim)


def flat(text: str) -> str:
    """kubectl explain's output with its line wrapping undone (descriptions are wrapped at 80 columns)."""
    return " ".join(text.split())


def test_explain_pod_containers_lists_every_field_with_its_type_and_upstream_description(sim):
    out = sim.kubectl("explain", "pod.spec.containers").stdout
    assert "FIELD: containers <[]Container>" in out
    text = flat(out)
    assert "List of containers belonging to the pod. Containers cannot currently be added or removed." in text
    assert "image <string> Container image name. More info: https://kubernetes.io/docs/concepts/containers/images" in text
    assert "name <string> -required- Name of the container specified as a DNS_LABEL." in text
    for field in ("args <[]string>", "env <[]EnvVar>", "livenessProbe <Probe>", "ports <[]ContainerPort>", "resources <ResourceRequirements>",
                  "securityContext <SecurityContext>", "volumeMounts <[]VolumeMount>", "imagePullPolicy <string>"):  # fmt: skip
        assert field in text, field
    assert "<no description>" not in out
    image = flat(sim.kubectl("explain", "pod.spec.containers.image").stdout)
    assert "FIELD: image <string>" in image and "This field is optional to allow higher level config management" in image
    port = flat(sim.kubectl("explain", "pod.spec.containers.livenessProbe.httpGet.port").stdout)
    assert "FIELD: port <IntOrString>" in port and "Name or number of the port to access on the container." in port


def test_explain_node_status_and_claim_spec(sim):
    out = sim.kubectl("explain", "node.status").stdout
    text = flat(out)
    assert "FIELD: status <NodeStatus>" in out
    assert "NodeStatus is information about the current status of a node." in text
    assert "capacity <map[string]Quantity> Capacity represents the total resources of a node." in text
    for field in ("addresses <[]NodeAddress>", "allocatable <map[string]Quantity>", "conditions <[]NodeCondition>", "daemonEndpoints <NodeDaemonEndpoints>",
                  "images <[]ContainerImage>", "nodeInfo <NodeSystemInfo>", "volumesAttached <[]AttachedVolume>"):  # fmt: skip
        assert field in text, field
    assert "kubeletVersion <string> -required- Kubelet Version reported by the node." in flat(sim.kubectl("explain", "node.status.nodeInfo").stdout)
    claim = sim.kubectl("explain", "pvc.spec").stdout
    assert "FIELD: spec <PersistentVolumeClaimSpec>" in claim
    text = flat(claim)
    for field in ("accessModes <[]string>", "resources <VolumeResourceRequirements>", "selector <LabelSelector>", "storageClassName <string>"):
        assert field in text, field
    assert "<no description>" not in claim


BAD_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containerz: []
  containers:
  - name: c
    image: nginx:1.27
    imagePullPolicyy: Always
"""


def test_strict_validation_refuses_unknown_nested_fields_as_kube_apiserver_does(sim, namespace, http):
    name = "bad-" + uuid.uuid4().hex[:6]
    result = sim.kubectl("apply", "-n", namespace, "-f", "-", input=BAD_POD.format(name=name), check=False)
    assert result.returncode == 1
    # kubectl sends the object with its keys sorted: the decoder meets containers[0] before containerz
    assert result.stderr == (
        'Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].imagePullPolicyy", unknown field "spec.containerz"\n'
    )
    assert http.call("GET", PODS.format(namespace) + "/" + name).status_code == 404
    # in the body's own order, as the decoder reads it
    body = yaml.safe_load(BAD_POD.format(name=name))
    body["spec"]["volumes"] = [{"name": "v", "emptyDir": {"sizeLimit": "1Gi", "mediumm": "Memory"}}]
    resp = http.call("POST", PODS.format(namespace), body, params={"fieldValidation": "Strict"})
    assert resp.status_code == 400, resp.text
    status = resp.json()
    assert status["reason"] == "BadRequest" and status["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containerz", '
        'unknown field "spec.containers[0].imagePullPolicyy", unknown field "spec.volumes[0].emptyDir.mediumm"'
    )


CONTAINER_DEFAULTS = ("terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy")  # api/pod_defaults.py


def written(containers: list[dict]) -> list[dict]:
    """Containers without the fields the API server defaults on every one."""
    return [{k: v for k, v in c.items() if k not in CONTAINER_DEFAULTS} for c in containers]


def contains(got, sent) -> bool:
    """`sent` is in `got`: every field sent is there with its value, defaulted fields may be added beside (lists item
    by item, the defaulted tolerations appended at the end)."""
    if isinstance(sent, dict):
        return isinstance(got, dict) and all(k in got and contains(got[k], v) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(got, list) and len(got) >= len(sent) and all(contains(g, v) for g, v in zip(got, sent, strict=False))
    return got == sent


def test_warn_answers_with_warnings_and_drops_the_fields(sim, namespace, http):
    name = "warn-" + uuid.uuid4().hex[:6]
    body = yaml.safe_load(BAD_POD.format(name=name))
    resp = http.call("POST", PODS.format(namespace), body, params={"fieldValidation": "Warn"})
    assert resp.status_code == 201, resp.text
    assert resp.headers["Warning"] == '299 - "unknown field \\"spec.containerz\\"", 299 - "unknown field \\"spec.containers[0].imagePullPolicyy\\""'
    for obj in (resp.json(), http.call("GET", PODS.format(namespace) + "/" + name).json()):
        assert "containerz" not in obj["spec"] and written(obj["spec"]["containers"]) == [{"name": "c", "image": "nginx:1.27"}]
    # kubectl --validate=warn prints them
    second = sim.kubectl("apply", "-n", namespace, "--validate=warn", "-f", "-", input=BAD_POD.format(name=name + "k"))
    assert 'Warning: unknown field "spec.containers[0].imagePullPolicyy"' in second.stderr and 'Warning: unknown field "spec.containerz"' in second.stderr


def test_ignore_drops_the_fields_silently(sim, namespace, http):
    name = "ign-" + uuid.uuid4().hex[:6]
    body = yaml.safe_load(BAD_POD.format(name=name))
    resp = http.call("POST", PODS.format(namespace), body, params={"fieldValidation": "Ignore"})
    assert resp.status_code == 201, resp.text
    assert "Warning" not in resp.headers
    assert written(resp.json()["spec"]["containers"]) == [{"name": "c", "image": "nginx:1.27"}] and "containerz" not in resp.json()["spec"]


def test_nulls_of_declared_fields_are_accepted_and_dropped(namespace, http):
    """Go decodes null into a struct field as its zero value: kubectl's own output (`creationTimestamp: null` in a
    template's metadata) goes back in unchanged."""
    name = "nulls-" + uuid.uuid4().hex[:6]
    claim_spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    claim = {"metadata": {"creationTimestamp": None, "labels": {"a": "b"}}, "spec": claim_spec}
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "c", "image": "nginx:1.27", "resources": None, "command": None}],
            "nodeSelector": None,
            "volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": claim}}],
        },
    }
    resp = http.call("POST", PODS.format(namespace), body, params={"fieldValidation": "Strict"})
    assert resp.status_code == 201, resp.text
    spec = resp.json()["spec"]
    assert written(spec["containers"]) == [{"name": "c", "image": "nginx:1.27"}] and "nodeSelector" not in spec
    assert spec["volumes"][0]["ephemeral"]["volumeClaimTemplate"]["metadata"] == {"labels": {"a": "b"}}


FULL_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: web, tier: front}}
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 45
  dnsPolicy: ClusterFirst
  serviceAccountName: default
  nodeSelector: {{disktype: ssd}}
  hostAliases:
  - ip: 10.1.2.3
    hostnames: [foo.local, bar.local]
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
    seccompProfile: {{type: RuntimeDefault}}
    sysctls:
    - {{name: net.ipv4.ip_local_port_range, value: "1024 65000"}}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {{key: kubernetes.io/os, operator: In, values: [linux]}}
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 10
        preference:
          matchExpressions:
          - {{key: zone, operator: NotIn, values: [z9]}}
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels: {{app: web}}
  tolerations:
  - {{key: dedicated, operator: Equal, value: web, effect: NoSchedule}}
  - {{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 300}}
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels: {{app: web}}
  initContainers:
  - name: init
    image: busybox:1.36
    command: [sh, -c, "echo ready > /work/ready"]
    volumeMounts:
    - {{name: work, mountPath: /work}}
  containers:
  - name: web
    image: nginx:1.27
    imagePullPolicy: IfNotPresent
    args: [-g, daemon off;]
    workingDir: /usr/share/nginx
    ports:
    - {{name: http, containerPort: 80, protocol: TCP}}
    env:
    - {{name: MODE, value: production}}
    - name: POD_IP
      valueFrom:
        fieldRef: {{fieldPath: status.podIP}}
    - name: PASSWORD
      valueFrom:
        secretKeyRef: {{name: web-secret, key: password, optional: true}}
    - name: MEM_LIMIT
      valueFrom:
        resourceFieldRef: {{containerName: web, resource: limits.memory, divisor: 1Mi}}
    envFrom:
    - configMapRef: {{name: web-config, optional: true}}
      prefix: CFG_
    resources:
      requests: {{cpu: 250m, memory: 64Mi, ephemeral-storage: 1Gi}}
      limits: {{cpu: "1", memory: 128Mi}}
    livenessProbe:
      httpGet:
        path: /healthz
        port: 80
        httpHeaders:
        - {{name: X-Probe, value: live}}
      initialDelaySeconds: 5
      periodSeconds: 10
      failureThreshold: 3
    readinessProbe:
      tcpSocket: {{port: http}}
      timeoutSeconds: 2
    startupProbe:
      exec:
        command: [cat, /work/ready]
      successThreshold: 1
    lifecycle:
      preStop:
        exec:
          command: [nginx, -s, quit]
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: [ALL]
        add: [NET_BIND_SERVICE]
    volumeMounts:
    - {{name: work, mountPath: /work}}
    - {{name: config, mountPath: /etc/nginx/conf.d, readOnly: true}}
    - {{name: secret, mountPath: /etc/secret}}
    - {{name: info, mountPath: /etc/podinfo}}
  volumes:
  - name: work
    emptyDir: {{medium: Memory, sizeLimit: 64Mi}}
  - name: config
    configMap:
      name: web-config
      defaultMode: 420
      items:
      - {{key: default.conf, path: default.conf}}
  - name: secret
    secret: {{secretName: web-secret, optional: true}}
  - name: info
    projected:
      sources:
      - downwardAPI:
          items:
          - path: labels
            fieldRef: {{fieldPath: metadata.labels}}
      - serviceAccountToken: {{path: token, expirationSeconds: 3600, audience: api}}
"""


def test_a_full_pod_manifest_is_accepted_and_read_back_as_written(sim, namespace):
    name = "full-" + uuid.uuid4().hex[:6]
    manifest = FULL_POD.format(name=name)
    result = sim.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)  # --validate=strict, kubectl's default
    assert result.stderr == "" and f"pod/{name} created" in result.stdout
    sent = yaml.safe_load(manifest)["spec"]
    got = json.loads(sim.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)["spec"]
    for field, value in sent.items():
        assert contains(got[field], value), field  # as written, with the API server's defaults beside it
