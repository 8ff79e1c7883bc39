"""Dynamic admission: ValidatingWebhookConfigurations and MutatingWebhookConfigurations (admissionregistration.k8s.io/v1),
kube-apiserver's rules for them, and the dispatch of a write to the webhooks they register.

On a cluster, kube-apiserver calls a webhook because a configuration object says so: its rules (operations, API groups,
versions, resources and subresources, scope), selectors (namespace, object) and match conditions (CEL) pick the
requests, its clientConfig says where to send them, and its failurePolicy what to do when the call fails. The
simulator does the same with the webhooks it implements in process: each is served at a (namespace, service, path),
as the platform's servers serve theirs (`Admission.serve`), and is reached only through a configuration that points
there. So `kubectl get validatingwebhookconfigurations` shows what the platform registers, an admin who edits a rule
or deletes a configuration changes admission as on a cluster, and a denial names the webhook as the configuration
names it (`admission webhook "<name>" denied the request: …`). A configuration that points at a service or path the
simulator does not implement is a call that fails (no outbound calls are made, a URL included): with failurePolicy
Fail the write is refused with kube-apiserver's 500, with Ignore the webhook is skipped.

What kube-apiserver does, kept (upstream: staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook): mutating webhooks
after the built-in mutating plug-ins, in the order of their configurations' names and then of the webhooks within;
validating webhooks after the built-in validating plug-ins and before ResourceQuota, each called and the first denial
returned; a rule matches an operation, group, version, resource/subresource (`*`, `res/*`, `*/sub`) and scope; with
matchPolicy Equivalent a rule for another served version of the same resource matches too; namespaceSelector on the
namespace's labels (a Namespace's new labels on its create or update, its stored ones otherwise; always a match for
other cluster-scoped objects); objectSelector on the new or the old object's labels; matchConditions over unstructured
`object`, `oldObject` (null when absent) and `request`: any false skips the webhook, an error with no false refuses the
write as a 403 Forbidden (skipped under Ignore); the configurations' own writes reach no webhook
(IsExemptAdmissionConfigurationResource); a served webhook that fails otherwise than by denying is a failed call. Not
modelled: reinvocationPolicy IfNeeded (the platform has one mutating webhook), timeouts (calls in process do not time
out), caBundle (nothing is dialled), `authorizer` and CEL's cost limits; a webhook's object in another version than
the request's (Equivalent) is passed unconverted — the simulator's webhooks read every served version.

Validation: ValidateValidatingWebhookConfiguration / ValidateMutatingWebhookConfiguration (upstream:
pkg/apis/admissionregistration/validation/validation.go) for v1 objects: fully qualified unique webhook names,
admissionReviewVersions, rules, sideEffects None or NoneOnDryRun, failure and match policies, timeouts, clientConfig
(exactly one of url and service), selectors, match conditions (at most 64, named, compiling to a boolean: cel-python
has no type checker, so a trial evaluation stands in for cel-go's, `compile_error`). The
dispatch's index of the configurations is rebuilt when either kind changes (the store's last change), so a write
costs two dictionary lookups when no webhook is registered for its resource.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from .errors import APIError, cause, forbidden_for, webhook_denied
from .objectmeta import name_errors, qualified_name_errors
from .rbac_validation import label_selector_causes
from .selectors import match_label_selector

if TYPE_CHECKING:
    from .admission import AdmissionRequest, Webhook

log = logging.getLogger(__name__)

GROUP = v.ADMISSION_REGISTRATION_GROUP
VALIDATING = v.resource_key(v.VALIDATING_WEBHOOK_CONFIGURATION)
MUTATING = v.resource_key(v.MUTATING_WEBHOOK_CONFIGURATION)
NAMESPACES = v.resource_key(v.NAMESPACE)

OPERATIONS = ("*", "CONNECT", "CREATE", "DELETE", "UPDATE")
SCOPES = ("*", "Cluster", "Namespaced")
FAILURE_POLICIES = ("Fail", "Ignore")
MATCH_POLICIES = ("Equivalent", "Exact")
SIDE_EFFECTS = ("None", "NoneOnDryRun")  # v1's; Some and Unknown are v1beta1's
REINVOCATION_POLICIES = ("IfNeeded", "Never")
REVIEW_VERSIONS = ("v1", "v1beta1")
MAX_MATCH_CONDITIONS = 64
TIMEOUT_RANGE = (1, 30)
DEFAULT_TIMEOUT = 10
_URL_FORM = "; desired format: https://host[/path]"


# ---------------------------------------------------------------------------------------------------------------------
# Validation (pure)


def _go(value: Any) -> str:
    """A value as field.Invalid prints it: strings quoted, string lists as Go's %#v of a []string."""
    if isinstance(value, list):
        return "[]string{" + ", ".join(json.dumps(x) for x in value) + "}"
    return json.dumps(value)


def _invalid(path: str, value: Any, message: str) -> dict[str, str]:
    return cause(path, f"Invalid value: {_go(value)}: {message}")


def _required(path: str, message: str = "") -> dict[str, str]:
    return cause(path, f"Required value{': ' + message if message else ''}", "FieldValueRequired")


def _unsupported(path: str, value: Any, supported: tuple[str, ...]) -> dict[str, str]:
    listed = ", ".join(json.dumps(s) for s in supported)
    return cause(path, f"Unsupported value: {_go(value)}: supported values: {listed}", "FieldValueNotSupported")


def _duplicate(path: str, value: Any) -> dict[str, str]:
    return cause(path, f"Duplicate value: {_go(value)}", "FieldValueDuplicate")


def _has_wildcard(items: list[Any]) -> bool:
    return "*" in items


def _resources_causes(resources: list[Any], path: str) -> list[dict[str, str]]:
    """validateResources: `res`, `res/sub`, `*`, `*/*`, `res/*` and `*/sub`, without contradicting one another."""
    out: list[dict[str, str]] = []
    if not resources:
        out.append(_required(path))
    wildcard_subs: set[str] = set()  # res/*
    wildcard_resources: set[str] = set()  # */sub
    double = single = plain = False
    for i, entry in enumerate(resources):
        if not entry:
            out.append(_required(f"{path}[{i}]"))
            continue
        double = double or entry == "*/*"
        single = single or entry == "*"
        res, _sep, sub = entry.partition("/")
        if not _sep:
            plain = entry != "*"
            continue
        if res in wildcard_subs:
            out.append(_invalid(f"{path}[{i}]", entry, f"if '{res}/*' is present, must not specify {entry}"))
        if sub in wildcard_resources:
            out.append(_invalid(f"{path}[{i}]", entry, f"if '*/{sub}' is present, must not specify {entry}"))
        if sub == "*":
            wildcard_subs.add(res)
        if res == "*":
            wildcard_resources.add(sub)
    if len(resources) > 1 and double:
        out.append(_invalid(path, resources, "if '*/*' is present, must not specify other resources"))
    if single and plain:
        out.append(_invalid(path, resources, "if '*' is present, must not specify other resources without subresources"))
    return out


def rule_causes(rule: dict[str, Any], path: str) -> list[dict[str, str]]:
    """validateRuleWithOperations over validateRule (subresources allowed)."""
    out: list[dict[str, str]] = []
    operations = rule.get("operations") or []
    if not operations:
        out.append(_required(f"{path}.operations"))
    if len(operations) > 1 and _has_wildcard(operations):
        out.append(_invalid(f"{path}.operations", operations, "if '*' is present, must not specify other operations"))
    for i, op in enumerate(operations):
        if op not in OPERATIONS:
            out.append(_unsupported(f"{path}.operations[{i}]", op, OPERATIONS))
    groups = rule.get("apiGroups") or []
    if not groups:
        out.append(_required(f"{path}.apiGroups"))
    if len(groups) > 1 and _has_wildcard(groups):
        out.append(_invalid(f"{path}.apiGroups", groups, "if '*' is present, must not specify other API groups"))
    versions = rule.get("apiVersions") or []
    if not versions:
        out.append(_required(f"{path}.apiVersions"))
    if len(versions) > 1 and _has_wildcard(versions):
        out.append(_invalid(f"{path}.apiVersions", versions, "if '*' is present, must not specify other API versions"))
    out += [_required(f"{path}.apiVersions[{i}]") for i, ver in enumerate(versions) if not ver]
    out += _resources_causes(rule.get("resources") or [], f"{path}.resources")
    scope = rule.get("scope")
    if scope is not None and scope not in SCOPES:
        out.append(_unsupported(f"{path}.scope", scope, SCOPES))
    return out


def client_config_causes(config: dict[str, Any], path: str) -> list[dict[str, str]]:
    """Exactly one of url and service; ValidateWebhookURL (https, a host, no user, fragment or query) and
    ValidateWebhookService (name, namespace, a valid port, a path of DNS-subdomain segments from '/')."""
    url, service = config.get("url"), config.get("service")
    if (url is None) == (service is None):
        return [_required(path, "exactly one of url or service is required")]
    if url is not None:
        where = f"{path}.url"
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            return [_required(where, f"url must be a valid URL: {exc}{_URL_FORM}")]
        host = parts.netloc.rpartition("@")[2]  # Go's URL.Host: a port alone is a host
        port = host.rpartition("]")[2].rpartition(":")[2] if ":" in host.rpartition("]")[2] else ""
        if port and not port.isdigit():  # url.Parse: a port is digits (of any value)
            return [_required(where, f'url must be a valid URL: parse "{url}": invalid port ":{port}" after host{_URL_FORM}')]
        out = []
        if parts.scheme != "https":
            out.append(_invalid(where, parts.scheme, "'https' is the only allowed URL scheme" + _URL_FORM))
        if not host:
            out.append(_invalid(where, host, "host must be specified" + _URL_FORM))
        if parts.username is not None:
            out.append(_invalid(where, parts.netloc.rpartition("@")[0], "user information is not permitted in the URL"))
        if parts.fragment:
            out.append(_invalid(where, parts.fragment, "fragments are not permitted in the URL"))
        if parts.query:
            out.append(_invalid(where, parts.query, "query parameters are not permitted in the URL"))
        return out
    where = f"{path}.service"
    out = []
    if not service.get("name"):
        out.append(_required(f"{where}.name", "service name is required"))
    if not service.get("namespace"):
        out.append(_required(f"{where}.namespace", "service namespace is required"))
    port = service.get("port", 443)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        out.append(cause(f"{where}.port", f"Invalid value: {port}: port is not valid: must be between 1 and 65535, inclusive"))
    url_path = service.get("path")
    if url_path is None or url_path in ("", "/"):
        return out
    if url_path == "//":
        return [*out, _invalid(f"{where}.path", url_path, "segment[0] may not be empty")]
    if not url_path.startswith("/"):
        out.append(_invalid(f"{where}.path", url_path, "must start with a '/'"))
    steps = url_path[1:]
    if steps.endswith("/"):
        steps = steps[:-1]
    for i, step in enumerate(steps.split("/")):
        if not step:
            out.append(_invalid(f"{where}.path", url_path, f"segment[{i}] may not be empty"))
            continue
        out += [_invalid(f"{where}.path", url_path, f"segment[{i}]: {m}") for m in name_errors("", step)]
    return out


def match_condition_causes(conditions: list[Any], path: str) -> list[dict[str, str]]:
    """validateMatchConditions: at most 64, each named (a qualified name, unique) with an expression that compiles."""
    out: list[dict[str, str]] = []
    if len(conditions) > MAX_MATCH_CONDITIONS:
        out.append(cause(path, f"Too many: {len(conditions)}: must have at most {MAX_MATCH_CONDITIONS} items", "FieldValueTooMany"))
    seen: set[str] = set()
    for i, condition in enumerate(conditions):
        where = f"{path}[{i}]"
        name, expression = condition.get("name") or "", (condition.get("expression") or "").strip()
        if not expression:
            out.append(_required(f"{where}.expression"))
        else:
            problem = compile_error(expression)
            if problem:
                out.append(_invalid(f"{where}.expression", expression, problem))
        if not name:
            out.append(_required(f"{where}.name"))
        else:
            out += [_invalid(f"{where}.name", name, m) for m in qualified_name_errors(name)]
            if name in seen:
                out.append(_duplicate(f"{where}.name", name))
            seen.add(name)
    return out


def compile_error(expression: str) -> str | None:
    """Why the CEL expression would be refused, None if it is accepted. cel-python parses but has no type checker, so
    what cel-go's checker refuses is found by a trial evaluation with the variables declared (`object` and
    `oldObject` null, `request` empty): a name that is none of them is an undeclared reference, and a result that is
    not a boolean (where the trial gets one at all) is not a condition. `authorizer` is not provided here: refused."""
    import celpy

    from .validation import cel_program  # celpy: loaded only by configurations that have match conditions

    try:
        program = cel_program(expression)
    except Exception as exc:  # celpy raises its parser's errors as they are  # noqa: BLE001
        # celpy words a syntax error as the line and a caret under the column; cel-go as `<input>:line:column`
        lines = str(exc).splitlines()
        column = lines[1].index("^") + 1 if len(lines) > 1 and "^" in lines[1] else 1
        return f"compilation failed: ERROR: <input>:1:{column}: Syntax error"
    try:
        result = program.evaluate({"object": None, "oldObject": None, "request": celpy.json_to_cel({})})
    except Exception as exc:  # noqa: BLE001 (celpy raises its own and Python's)
        why = _cel_error(exc)
        return f"compilation failed: ERROR: <input>:1:1: {why}" if why.startswith("undeclared reference") else None
    if isinstance(result, celpy.CELEvalError):
        why = _cel_error(result)
        return f"compilation failed: ERROR: <input>:1:1: {why}" if why.startswith("undeclared reference") else None
    if not isinstance(result, (bool, celpy.celtypes.BoolType)):
        return "must evaluate to bool"
    return None


def _cel_error(exc: BaseException) -> str:
    """celpy's error message alone: its text goes on with the whole activation (the objects), which is not for a reply."""
    first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else type(exc).__name__
    return first.split(" (in activation")[0][:200]


def webhook_causes(hook: dict[str, Any], path: str, mutating: bool) -> list[dict[str, str]]:
    """ValidateWebhook (v1): one webhook of a configuration."""
    out: list[dict[str, str]] = []
    name = hook.get("name") or ""
    if not name:
        out.append(_required(f"{path}.name"))
    else:
        problems = name_errors("", name)
        if problems:
            out.append(_invalid(f"{path}.name", name, ",".join(problems)))
        elif len(name.split(".")) < 3:
            out.append(_invalid(f"{path}.name", name, "should be a domain with at least three segments separated by dots"))
    for i, rule in enumerate(hook.get("rules") or []):
        out += rule_causes(rule, f"{path}.rules[{i}]")
    policy = hook.get("failurePolicy")
    if policy is not None and policy not in FAILURE_POLICIES:
        out.append(_unsupported(f"{path}.failurePolicy", policy, FAILURE_POLICIES))
    match_policy = hook.get("matchPolicy")
    if match_policy is not None and match_policy not in MATCH_POLICIES:
        out.append(_unsupported(f"{path}.matchPolicy", match_policy, MATCH_POLICIES))
    if mutating:
        reinvocation = hook.get("reinvocationPolicy")
        if reinvocation is not None and reinvocation not in REINVOCATION_POLICIES:
            out.append(_unsupported(f"{path}.reinvocationPolicy", reinvocation, REINVOCATION_POLICIES))
    side_effects = hook.get("sideEffects")
    if side_effects is None:
        out.append(_required(f"{path}.sideEffects", f"must specify one of {', '.join(SIDE_EFFECTS)}"))
    elif side_effects not in SIDE_EFFECTS:
        out.append(_unsupported(f"{path}.sideEffects", side_effects, SIDE_EFFECTS))
    timeout = hook.get("timeoutSeconds")
    if timeout is not None and not TIMEOUT_RANGE[0] <= timeout <= TIMEOUT_RANGE[1]:
        out.append(cause(f"{path}.timeoutSeconds", f"Invalid value: {timeout}: the timeout value must be between 1 and 30 seconds"))
    for key in ("namespaceSelector", "objectSelector"):
        out += label_selector_causes(hook.get(key) or {}, f"{path}.{key}")
    out += client_config_causes(hook.get("clientConfig") or {}, f"{path}.clientConfig")
    out += match_condition_causes(hook.get("matchConditions") or [], f"{path}.matchConditions")
    return out


def review_versions_causes(versions: list[Any], path: str) -> list[dict[str, str]]:
    """validateAdmissionReviewVersions: at least one, no duplicates, DNS-1035 labels, one of them v1 or v1beta1."""
    if not versions:
        return [_required(path, f"must specify one of {', '.join(REVIEW_VERSIONS)}")]
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, version in enumerate(versions):
        if version in seen:
            out.append(_invalid(f"{path}[{i}]", version, "duplicate version"))
            continue
        seen.add(version)
        out += [_invalid(f"{path}[{i}]", version, m) for m in name_errors("Service", version)]
    if not seen.intersection(REVIEW_VERSIONS):
        out.append(_invalid(path, versions, f"must include at least one of {', '.join(REVIEW_VERSIONS)}"))
    return out


def configuration_causes(obj: dict[str, Any], mutating: bool) -> list[dict[str, str]]:
    """A whole configuration's causes, in upstream's order: per webhook its own, its admissionReviewVersions', and its
    name's if an earlier webhook has it."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, hook in enumerate(obj.get("webhooks") or []):
        out += webhook_causes(hook, f"webhooks[{i}]", mutating)
        out += review_versions_causes(hook.get("admissionReviewVersions") or [], f"webhooks[{i}].admissionReviewVersions")
        name = hook.get("name") or ""
        if name and name in seen:
            out.append(_duplicate(f"webhooks[{i}].name", name))
        seen.add(name)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Matching (pure)


@dataclass(frozen=True)
class Attributes:
    """What a rule is matched against: the request's operation, group, version, resource, subresource and namespace."""

    operation: str
    group: str
    version: str
    resource: str
    subresource: str
    namespace: str  # "" for a cluster-scoped object; a Namespace's own name for a Namespace


def rule_matches(rule: dict[str, Any], attrs: Attributes, versions: tuple[str, ...] | None = None) -> bool:
    """Matcher.Matches: operation, group, version (any of `versions` when given: matchPolicy Equivalent), resource and
    subresource, scope."""
    operations = rule.get("operations") or ()
    if "*" not in operations and attrs.operation not in operations:
        return False
    groups = rule.get("apiGroups") or ()
    if "*" not in groups and attrs.group not in groups:
        return False
    rule_versions = rule.get("apiVersions") or ()
    if "*" not in rule_versions and not any(ver in rule_versions for ver in (versions or (attrs.version,))):
        return False
    for entry in rule.get("resources") or ():
        res, _sep, sub = entry.partition("/")
        if (res == "*" or res == attrs.resource) and (sub == "*" or sub == attrs.subresource):
            break
    else:
        return False
    scope = rule.get("scope") or "*"
    if scope == "Namespaced":
        return attrs.resource != "namespaces" and attrs.namespace != ""
    if scope == "Cluster":
        return attrs.resource == "namespaces" or attrs.namespace == ""
    return True


@dataclass
class Registered:
    """One webhook of a configuration, as the dispatch reads it."""

    configuration: str
    position: int  # within its configuration
    name: str
    mutating: bool
    hook: dict[str, Any]

    @property
    def failure_policy(self) -> str:
        return self.hook.get("failurePolicy") or "Fail"


def index(configurations: list[dict[str, Any]], mutating: bool) -> dict[tuple[str, str], list[Registered]]:
    """The webhooks of the configurations by (group, resource) of their rules, `*` kept as such, in kube-apiserver's
    order (configurations by name, then their webhooks in order). A webhook is listed once per key."""
    out: dict[tuple[str, str], list[Registered]] = {}
    for config in sorted(configurations, key=lambda c: c["metadata"]["name"]):
        for position, hook in enumerate(config.get("webhooks") or ()):
            registered = Registered(config["metadata"]["name"], position, hook.get("name") or "", mutating, hook)
            keys: dict[tuple[str, str], None] = {}
            for rule in hook.get("rules") or ():
                resources = {entry.partition("/")[0]: None for entry in rule.get("resources") or ()}
                for group in rule.get("apiGroups") or ():
                    keys.update(dict.fromkeys((group, resource) for resource in resources))
            for key in keys:
                out.setdefault(key, []).append(registered)
    return out


def candidates(idx: dict[tuple[str, str], list[Registered]], group: str, resource: str) -> list[Registered]:
    """The webhooks whose rules name this group and resource, or a wildcard, in dispatch order."""
    found = [idx.get((group, resource)), idx.get((group, "*")), idx.get(("*", resource)), idx.get(("*", "*"))]
    lists = [f for f in found if f]
    if not lists:
        return []
    if len(lists) == 1:
        return lists[0]
    seen: set[int] = set()
    merged = []
    for registered in sorted((r for lst in lists for r in lst), key=lambda r: (r.configuration, r.position)):
        if id(registered) not in seen:
            seen.add(id(registered))
            merged.append(registered)
    return merged


# ---------------------------------------------------------------------------------------------------------------------
# Dispatch


@dataclass
class Endpoint:
    """A webhook the simulator serves in process: at `path` of a service, for the operations its server handles (the
    others are allowed, as a controller-runtime validator's ValidateDelete that returns nothing)."""

    hook: Webhook
    mutating: bool
    operations: tuple[str, ...]


@dataclass
class Dispatch:
    """The in-process webhook servers and the index of the configurations that reach them."""

    endpoints: dict[tuple[str, str, str], Endpoint] = field(default_factory=dict)
    services: set[tuple[str, str]] = field(default_factory=set)
    _cache: dict[bool, tuple[Any, dict[tuple[str, str], list[Registered]]]] = field(default_factory=dict)

    def serve(self, namespace: str, service: str, path: str, hook: Webhook, mutating: bool, operations: tuple[str, ...]) -> None:
        self.endpoints[(namespace, service, path)] = Endpoint(hook, mutating, operations)
        self.services.add((namespace, service))

    def _index(self, request: AdmissionRequest, mutating: bool) -> dict[tuple[str, str], list[Registered]]:
        store = request.service.store
        res = MUTATING if mutating else VALIDATING
        stamp = store.last_change(res)
        cached = self._cache.get(mutating)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        built = index([entry.obj for entry in store.list(res)], mutating)
        self._cache[mutating] = (stamp, built)
        return built

    def run(self, request: AdmissionRequest, mutating: bool) -> None:
        rt = request.rt
        if rt.group == GROUP:
            return  # IsExemptAdmissionConfigurationResource: no webhook sees a write of the configurations themselves
        idx = self._index(request, mutating)
        if not idx:
            return
        found = candidates(idx, rt.group, rt.plural)
        if not found:
            return
        obj = request.obj if request.obj is not None else request.old or {}
        meta = obj.get("metadata") or {}
        namespace = meta.get("name", "") if rt.kind == v.NAMESPACE and not rt.group else (meta.get("namespace", "") if rt.namespaced else "")
        attrs = Attributes(request.operation, rt.group, request.version, rt.plural, request.subresource or "", namespace)
        served = tuple(rt.versions)
        for registered in found:
            if not self._matches(registered, attrs, served, request):
                continue
            self._call(registered, request, attrs)

    def _matches(self, registered: Registered, attrs: Attributes, served: tuple[str, ...], request: AdmissionRequest) -> bool:
        hook = registered.hook
        rules = hook.get("rules") or ()
        if not any(rule_matches(rule, attrs) for rule in rules):
            if (hook.get("matchPolicy") or "Equivalent") != "Equivalent" or not any(rule_matches(rule, attrs, served) for rule in rules):
                return False
        if not self._namespace_matches(hook.get("namespaceSelector"), attrs, request):
            return False
        selector = hook.get("objectSelector")
        if selector and not (_labels_match(selector, request.obj) or _labels_match(selector, request.old)):
            return False
        conditions = hook.get("matchConditions")
        if conditions:
            verdict = _conditions(conditions, request, attrs)
            if isinstance(verdict, str):
                # ShouldCallHook: evaluation errors fail closed as a Forbidden of the object, open under Ignore
                if registered.failure_policy == "Ignore":
                    return False
                name = ((request.obj or request.old or {}).get("metadata") or {}).get("name", "")
                raise forbidden_for(request.rt, name if isinstance(name, str) else "", verdict)
            return verdict
        return True

    @staticmethod
    def _namespace_matches(selector: dict[str, Any] | None, attrs: Attributes, request: AdmissionRequest) -> bool:
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            return True
        if attrs.resource == "namespaces" and not attrs.group:
            # GetNamespaceLabels: a Namespace's create or update is matched by its new labels, anything else by the stored
            fresh = request.operation in ("CREATE", "UPDATE") and not attrs.subresource
            return _labels_match(selector, request.obj if fresh else request.old)
        if not attrs.namespace:
            return True  # cluster-scoped objects: the namespace selector does not apply
        entry = request.service.store.get(NAMESPACES, "", attrs.namespace)
        labels = (entry.obj["metadata"].get("labels") if entry else None) or {}
        return match_label_selector(selector, labels)

    def _call(self, registered: Registered, request: AdmissionRequest, attrs: Attributes) -> None:
        config = registered.hook.get("clientConfig") or {}
        service = config.get("service")
        endpoint = None
        if service is not None:
            endpoint = self.endpoints.get((service.get("namespace", ""), service.get("name", ""), service.get("path") or "/"))
        if endpoint is None:
            self._failed(registered, self._unreachable(registered), request)
            return
        if request.operation not in endpoint.operations:
            return
        if not registered.mutating and endpoint.mutating and request.obj is not None:
            # a validating configuration pointed at a mutating server: the patch it answers is not applied
            from .service import json_copy

            request = _with_obj(request, json_copy(request.obj))
        try:
            endpoint.hook(request)
        except Denial as denial:
            raise webhook_denied(registered.name, denial.message, denial.code) from None
        except APIError:
            raise
        except Exception:  # a server's handler failing on what it was sent (a rule pointed at another kind's path)
            log.exception("webhook %s failed on %s %s", registered.name, request.operation, request.rt.key)
            self._failed(registered, "received invalid webhook response: the server responded with status 500", request)

    def _unreachable(self, registered: Registered) -> str:
        """The transport error of a call to a webhook the simulator does not serve, as the webhook client reports it."""
        config = registered.hook.get("clientConfig") or {}
        timeout = registered.hook.get("timeoutSeconds") or DEFAULT_TIMEOUT
        service = config.get("service")
        if service is None:
            url = config.get("url", "")
            return f'failed to call webhook: Post "{url}?timeout={timeout}s": dial tcp: connect: connection refused'
        name, namespace = service.get("name", ""), service.get("namespace", "")
        url = f"https://{name}.{namespace}.svc:{service.get('port', 443)}{service.get('path') or ''}?timeout={timeout}s"
        if (namespace, name) not in self.services:
            return f'failed to call webhook: Post "{url}": service "{name}" not found'
        return "the server could not find the requested resource"

    @staticmethod
    def _failed(registered: Registered, why: str, request: AdmissionRequest) -> None:
        """A call that failed: refused with kube-apiserver's InternalError under failurePolicy Fail, skipped under Ignore."""
        if registered.failure_policy == "Ignore":
            return
        raise APIError(500, f'Internal error occurred: failed calling webhook "{registered.name}": {why}', reason="InternalError")


class Denial(Exception):
    """A webhook's refusal (controller-runtime's admission.Denied, or Errored with another code): the dispatch relays
    it as kube-apiserver does, under the name the configuration gives the webhook."""

    def __init__(self, message: str, code: int = 403):
        super().__init__(message)
        self.message = message
        self.code = code


def _with_obj(request: AdmissionRequest, obj: dict[str, Any]) -> AdmissionRequest:
    return replace(request, obj=obj, warnings=request.warnings)


def _labels_match(selector: dict[str, Any], obj: dict[str, Any] | None) -> bool:
    if obj is None:
        return False
    meta = obj.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return match_label_selector(selector, labels if isinstance(labels, dict) else {})


def review_request(request: AdmissionRequest, attrs: Attributes) -> dict[str, Any]:
    """The AdmissionReview request as CEL's `request` sees it (admission.k8s.io/v1 AdmissionRequest)."""
    rt = request.rt
    meta = (request.obj or request.old or {}).get("metadata") or {}
    user = request.user
    # a controller's write (no requester) as an anonymous identity with no groups
    user_info: dict[str, Any] = user.to_json() if user is not None else {"username": "", "groups": []}
    kind = {"group": rt.group, "version": request.version, "kind": rt.kind}
    resource = {"group": rt.group, "version": request.version, "resource": rt.plural}
    out: dict[str, Any] = {
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": meta.get("name", ""),
        "namespace": attrs.namespace if attrs.resource != "namespaces" else "",
        "operation": request.operation,
        "userInfo": user_info,
        "dryRun": bool(request.dry_run),
    }
    if request.subresource:
        out["subResource"] = out["requestSubResource"] = request.subresource
    return out


def _to_cel(value: Any) -> Any:
    """A JSON value as CEL sees an unstructured object; an integer beyond 64 bits (which celpy refuses) as the
    float64 Go's JSON decoder makes of it."""
    import celpy

    try:
        return celpy.json_to_cel(value)
    except (ValueError, OverflowError):
        return celpy.json_to_cel(_wide_ints_as_floats(value))


def _wide_ints_as_floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _wide_ints_as_floats(x) for k, x in value.items()}
    if isinstance(value, list):
        return [_wide_ints_as_floats(x) for x in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return float(value)
    return value


def _conditions(conditions: list[dict[str, Any]], request: AdmissionRequest, attrs: Attributes) -> bool | str:
    """matchConditions (upstream: matchconditions/matcher.go): False if any is false; else the errors' message if any
    failed to evaluate; else True. `object` is null on a delete and `oldObject` on a create; map keys (labels,
    annotations) are not escaped, as unstructured objects are untyped there."""
    import celpy

    from .validation import cel_program

    errors = []
    try:
        activation = {
            "object": _to_cel(request.obj) if request.obj is not None else None,
            "oldObject": _to_cel(request.old) if request.old is not None else None,
            "request": _to_cel(review_request(request, attrs)),
        }
    except Exception as exc:  # noqa: BLE001 (an object CEL cannot hold, nested past the recursion limit, say): the failure policy's
        return f"expression '{(conditions[0].get('expression') or '').strip()}' resulted in error: {type(exc).__name__}"
    for condition in conditions:
        expression = (condition.get("expression") or "").strip()
        try:
            result = cel_program(expression).evaluate(activation)
        except Exception as exc:  # noqa: BLE001 (celpy raises its own and Python's)
            errors.append(f"expression '{expression}' resulted in error: {_cel_error(exc)}")
            continue
        if isinstance(result, celpy.CELEvalError):
            errors.append(f"expression '{expression}' resulted in error: {_cel_error(result)}")
        elif not isinstance(result, (bool, celpy.celtypes.BoolType)):
            errors.append(f"expression '{expression}' resulted in error: must evaluate to bool")
        elif not bool(result):
            return False
    if errors:
        return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return True


# ---------------------------------------------------------------------------------------------------------------------
# Registration


def register(admission: Any) -> None:
    """kube-apiserver's validation of both kinds, as built-in validating plug-ins."""
    from .admission import CREATE, UPDATE
    from .errors import invalid

    def validator(kind: str, mutating: bool) -> Any:
        def validate(request: AdmissionRequest) -> None:
            obj = request.obj or {}
            causes = configuration_causes(obj, mutating)
            if causes:
                raise invalid(GROUP, kind, obj["metadata"].get("name", ""), causes)

        return validate

    admission.validate(GROUP, v.VALIDATING_WEBHOOK_CONFIGURATION, operations=(CREATE, UPDATE))(validator(v.VALIDATING_WEBHOOK_CONFIGURATION, False))
    admission.validate(GROUP, v.MUTATING_WEBHOOK_CONFIGURATION, operations=(CREATE, UPDATE))(validator(v.MUTATING_WEBHOOK_CONFIGURATION, True))
