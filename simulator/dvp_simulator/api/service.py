"""Object semantics shared by the HTTP API and the in-process controllers: identity, optimistic concurrency,
generation, finalizers and deletion, admission (webhooks, defaulting, pruning, schema, CEL), field ownership
and version conversion. Controllers write through this too, so they obey the same rules as any client."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..clock import Clock
from ..resources import Registry, ResourceType
from ..store.store import ADDED, MODIFIED, Entry, Store
from . import apply as ssa
from . import objectmeta, typecheck
from .admission import CREATE, DELETE, UPDATE, Admission, AdmissionRequest
from .errors import DecodeFailure, already_exists, bad_request, cause, conflict, decode_failure, invalid, namespace_terminating, not_found
from .event_correlator import SERIES_COMPONENTS, EventCorrelator
from .options import options_invalid
from .patch import APPLY_PATCH_YAML, apply_patch
from .pod_spec import EPHEMERAL

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# generateName's suffix, as apiserver's utilrand.String(5): a name, not a secret, so a seeded PRNG (math/rand upstream);
# secrets.choice read the OS's random source for every character (5.7 us a name against 1.1 us).
_NAME_SUFFIX = random.Random()
STRICT_ERRORS_MAX = 100
# generateName's base is cut to 58 characters so that base and suffix make a name of at most 63, a DNS label (upstream:
# staging/src/k8s.io/apiserver/pkg/storage/names/generate.go maxGeneratedNameLength): a pod of a long-named ReplicaSet
# gets a name its hostname can be.
MAX_GENERATED_BASE = 58
MAX_NAME_GENERATIONS = 8  # upstream's maxNameGenerationCreateAttempts

IMMUTABLE_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
# The built-in kinds whose registry strategy keeps metadata.generation (1 on create, +1 when the spec changes), as
# kube-apiserver 1.33's do: Pods since 1.33 (KEP-5067: the generation itself is not behind a feature gate, only the
# pods' observedGeneration is), the workloads, PodDisruptionBudgets, Ingresses, NetworkPolicies and CRDs (upstream:
# pkg/registry/*/*/strategy.go PrepareForCreate/PrepareForUpdate). Custom resources always keep it (apiextensions-
# apiserver customresource/strategy.go). Any other kind (Namespace, Node, ConfigMap, Secret, Service, Event, Lease, the
# volume and RBAC kinds, StorageClass...) has none: a client's value on create is kept as sent, and never changes
# after (staging/src/k8s.io/apiserver/pkg/registry/rest/update.go BeforeUpdate copies the old one).
GENERATION_KINDS = frozenset(
    {
        ("", "Pod"),
        ("", "ReplicationController"),
        ("apps", "DaemonSet"),
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
        ("batch", "CronJob"),
        ("batch", "Job"),
        ("policy", "PodDisruptionBudget"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    }
)


def _generated_name(generate_name: str) -> str:
    return generate_name[:MAX_GENERATED_BASE] + "".join(_NAME_SUFFIX.choices(GENERATE_ALPHABET, k=5))


def tracks_generation(rt: ResourceType) -> bool:
    """Whether the API server sets and bumps metadata.generation of this kind's objects (GENERATION_KINDS)."""
    return rt.is_crd or (rt.group, rt.kind) in GENERATION_KINDS


@dataclass
class WriteOptions:
    version: str
    dry_run: bool = False
    manager: str = "unknown"
    field_validation: str = "Warn"  # Strict | Warn | Ignore
    subresource: str | None = None
    force: bool = False
    # A controller's update of the object and its status in one write (no request sets it: the API has no such
    # call). What the two writes a controller's reconcile would make back to back - its metadata or spec, then its
    # status - become one version: one admission, one event, one wake-up of the watchers, where nothing could happen
    # between the two anyway (a reconcile does not yield). managedFields record them as the two writes would: the
    # manager's main entry and its status entry. On a create (of a built-in kind: a custom resource is created
    # without status), the object created with the status its controller's next write would give it.
    with_status: bool = False
    # A client's request (the HTTP server sets it): the rules upstream applies to a request's body and not to what a
    # controller writes in process - a custom resource's PUT must name the resourceVersion it replaces.
    request: bool = False
    # Who makes the write (an authz.UserInfo; None for the simulator's own controllers): admission hooks that decide by
    # the requester read it (RBAC's escalation check, as kube-apiserver's admission attributes carry the user).
    user: Any = None


@dataclass
class Result:
    obj: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    created: bool = False


class ObjectService:
    def __init__(self, registry: Registry, store: Store, clock: Clock, admission: Admission | None = None):
        self.registry = registry
        self.store = store
        self.clock = clock
        self.admission = admission or Admission()
        ssa.use_clock(clock.stamp)
        # the Events recorded lately, by what makes two the same (see record_event): client-go's EventLogger cache
        self.events = EventCorrelator(clock.time)

    # -- reads ---------------------------------------------------------------------------------------------
    def entry(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        e = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if e is None:
            raise not_found(rt.group, rt.plural, name)
        return e

    def get(self, rt: ResourceType, namespace: str, name: str, version: str | None = None) -> dict[str, Any]:
        return self.to_version(rt, self.entry(rt, namespace, name).obj, version)

    def find(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored version itself (no copy, for speed): read it, never change it — write a copy with the change
        (`{**obj, "status": …}`, json_copy). A change in place would reach every reader with no new version, event or
        index update; the test suite's simulators catch one (store.CHECK_STORED)."""
        e = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        return e.obj if e else None

    def to_version(self, rt: ResourceType, obj: dict[str, Any], version: str | None) -> dict[str, Any]:
        """Objects are stored in the storage version (a view's in the viewed kind's form); a copy is converted
        for any other version."""
        if _as_stored(rt, version):
            return obj
        if rt.view is not None:
            converted = rt.view.from_stored(json_copy(obj))
            converted["kind"] = rt.kind
        else:
            converted = rt.convert(json_copy(obj), version) if rt.convert else json_copy(obj)
        converted["apiVersion"] = rt.api_version(version)
        return converted

    def raw_in_version(self, rt: ResourceType, entry: Entry, version: str | None) -> bytes:
        if _as_stored(rt, version):
            return entry.raw
        return json.dumps(self.to_version(rt, entry.full(), version), separators=(",", ":")).encode()

    # -- create --------------------------------------------------------------------------------------------
    def create(self, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions) -> Result:
        obj = self._check_body(rt, namespace, body, opts.version)
        self._decode(rt, obj, opts)
        meta = obj["metadata"]
        generated = False
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"], generated = _generated_name(meta["generateName"]), True
            else:
                raise invalid(rt.group, rt.kind, "", [cause("metadata.name", "Required value: name or generateName is required", "FieldValueRequired")])
        if rt.namespaced:
            self._require_namespace(namespace)
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        self._validate_metadata(rt, obj)
        # a generated name that is taken is generated again, up to 8 names in all (kube-apiserver's RetryGenerateName,
        # GA in 1.32): a ReplicaSet of 40,000 pods meets a taken 5-letter suffix about once in 350 creates
        for _attempt in range(MAX_NAME_GENERATIONS - 1 if generated else 0):
            if self.store.get(rt.key, meta.get("namespace", ""), meta["name"]) is None:
                break
            meta["name"] = _generated_name(meta["generateName"])
        if self.store.get(rt.key, meta.get("namespace", ""), meta["name"]) is not None:
            raise already_exists(rt.group, rt.plural, meta["name"])
        for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(key, None)
        if opts.manager:  # a client's managedFields are ignored; server-side apply hands over its own
            meta.pop("managedFields", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self.clock.stamp()
        if tracks_generation(rt):
            meta["generation"] = 1
        if rt.has_status and rt.is_crd and opts.subresource is None:
            obj.pop("status", None)
        warnings = self._admit(rt, CREATE, obj, None, opts)
        if opts.manager:
            schema, api_version = self._schema(rt, opts.version), rt.api_version(opts.version)
            if opts.with_status and rt.has_status and "status" in obj:
                main = {key: value for key, value in obj.items() if key != "status"}  # shares obj's metadata
                ssa.track_update(None, main, schema, opts.manager, api_version, None)
                ssa.track_update(main, obj, schema, opts.manager, api_version, "status")
            else:
                ssa.track_update(None, obj, schema, opts.manager, api_version, opts.subresource)
        return Result(self._commit(rt, obj, None, opts, ADDED), warnings, created=True)

    # -- update (PUT) --------------------------------------------------------------------------------------
    def update(self, rt: ResourceType, namespace: str, name: str, body: Any, opts: WriteOptions) -> Result:
        obj = self._check_body(rt, namespace, body, opts.version, only_status=opts.subresource == "status" and rt.has_status)
        self._decode(rt, obj, opts)
        if obj["metadata"].get("name") not in (None, name):
            raise bad_request(f"the name of the object ({obj['metadata'].get('name')}) does not match the name on the URL ({name})")
        obj["metadata"]["name"] = name
        current = self.entry(rt, namespace, name)
        uid, current_uid = obj["metadata"].get("uid"), current.obj["metadata"].get("uid")
        if uid and uid != current_uid:  # a PUT's uid is a precondition, as upstream
            raise conflict(rt.group, rt.plural, name, f"Precondition failed: UID in precondition: {uid}, UID in object meta: {current_uid}")
        wanted_rv = obj["metadata"].get("resourceVersion")
        if not wanted_rv and rt.is_crd and opts.request:
            # a custom resource refuses an unconditional update (the CR strategy's AllowUnconditionalUpdate is false):
            # the generic store's 422, which names the resource where a Kind would be
            why = cause("metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update", "FieldValueInvalid")
            raise invalid(rt.group, rt.plural, name, [why])
        if wanted_rv and wanted_rv != str(current.rv):
            raise conflict(rt.group, rt.plural, name, "the object has been modified; please apply your changes to the latest version and try again")
        return self._update_from(rt, current, obj, opts)

    def _update_from(self, rt: ResourceType, current: Entry, obj: dict[str, Any], opts: WriteOptions) -> Result:
        old = self.to_version(rt, current.full(), opts.version)
        new = self._merge_subresource(rt, old, obj, opts.subresource, opts.with_status)
        meta, old_meta = new["metadata"], old["metadata"]
        if rt.namespaced:
            meta["namespace"] = old_meta["namespace"]
        for key in IMMUTABLE_METADATA:
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise invalid(
                    rt.group,
                    rt.kind,
                    meta["name"],
                    [cause("metadata.finalizers", "Forbidden: no new finalizers can be added if the object is being deleted", "FieldValueForbidden")],
                )
        self._validate_metadata(rt, new)
        generation = tracks_generation(rt)
        if generation and _spec_changed(old, new):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        warnings = self._admit(rt, UPDATE, new, old, opts)
        if generation and _spec_changed(old, new) and meta.get("generation") == old_meta.get("generation"):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1  # a mutating webhook changed the spec
        if opts.manager:
            schema, api_version = self._schema(rt, opts.version), rt.api_version(opts.version)
            if opts.with_status and rt.has_status and old.get("status") != new.get("status"):
                main = {key: value for key, value in new.items() if key != "status"}  # shares new's metadata
                if "status" in old:
                    main["status"] = old["status"]
                ssa.track_update(old, main, schema, opts.manager, api_version, None)
                ssa.track_update(main, new, schema, opts.manager, api_version, "status")
            else:
                ssa.track_update(old, new, schema, opts.manager, api_version, opts.subresource)
        if _same(old, new):
            return Result(old, warnings)
        return Result(self._commit(rt, new, old, opts, MODIFIED), warnings)

    # -- patch ---------------------------------------------------------------------------------------------
    def patch(self, rt: ResourceType, namespace: str, name: str, content_type: str, body: Any, opts: WriteOptions) -> Result:
        if content_type == APPLY_PATCH_YAML:
            return self.apply(rt, namespace, name, body, opts)
        current = self.entry(rt, namespace, name)
        old = self.to_version(rt, current.full(), opts.version)
        patched = apply_patch(content_type, json_copy(old), body, self._schema(rt, opts.version), strategic_ok=not rt.is_crd)
        _check_patched(rt, namespace, name, patched, old)
        wanted_rv = patched["metadata"].get("resourceVersion")
        if wanted_rv and wanted_rv != str(current.rv):
            raise conflict(rt.group, rt.plural, name, "the object has been modified; please apply your changes to the latest version and try again")
        patched.setdefault("metadata", {})["name"] = name
        want = {"apiVersion": rt.api_version(opts.version), "kind": rt.kind}
        for key, value in want.items():  # a patch cannot turn the object into another kind or version
            if patched.get(key) not in (None, value):
                why = f'unable to decode the patched object: {key} "{patched[key]}" does not match the object\'s {key} "{value}"'
                raise invalid("", "", "", [cause("patch", f'Invalid value: "{{...}}": {why}')])
        patched.update(want)
        try:
            self._decode(rt, patched, opts)
            return self._update_from(rt, current, patched, opts)
        except DecodeFailure as failure:  # upstream decodes the patched object itself: a failure is the patch's, a 422
            raise invalid("", "", "", [cause("patch", f'Invalid value: "{{...}}": {failure.why}')]) from None

    def apply(self, rt: ResourceType, namespace: str, name: str, body: Any, opts: WriteOptions) -> Result:
        """Server-side apply: create or merge the manager's intent, with conflicts unless forced."""
        if not opts.manager:
            raise options_invalid("PatchOptions", [cause("fieldManager", "Required value: is required for apply patch", "FieldValueRequired")])
        applied = self._check_body(rt, namespace, body, opts.version)
        if applied["metadata"].get("name") not in (None, name):
            raise bad_request(f"the name of the object ({applied['metadata'].get('name')}) does not match the name on the URL ({name})")
        applied["metadata"]["name"] = name
        schema = self._schema(rt, opts.version)
        why = typecheck.type_error(schema, applied, rt.versions[opts.version].builtin)
        if why:  # upstream's typed conversion of the patch fails here, as a 500 (kubernetes#139253): a 400 is what it means
            group_version = f"{rt.group}/{opts.version}" if rt.group else f"/{opts.version}"
            where = f"{namespace}/{name}" if rt.namespaced else name
            raise bad_request(f"failed to create typed patch object ({group_version}, Kind={rt.kind}) {where}: {why}")
        api_version = rt.api_version(opts.version)
        current = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        # server_side_apply records the manager's fields itself: the write below must not track them again
        untracked = dataclasses.replace(opts, manager="")
        if current is None:
            if opts.subresource:
                raise not_found(rt.group, rt.plural, name)
            return self.create(rt, namespace, ssa.server_side_apply(None, applied, schema, opts.manager, api_version, opts.force), untracked)
        old = self.to_version(rt, current.full(), opts.version)
        merged = ssa.server_side_apply(old, applied, schema, opts.manager, api_version, opts.force, opts.subresource)
        return self._update_from(rt, current, merged, untracked)

    # -- delete --------------------------------------------------------------------------------------------
    def delete(self, rt: ResourceType, namespace: str, name: str, options: dict[str, Any] | None, dry_run: bool = False, version: str | None = None) -> Result:
        options = options or {}
        current = self.entry(rt, namespace, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != current.obj["metadata"].get("uid"):
            raise conflict(
                rt.group, rt.plural, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {current.obj['metadata'].get('uid')}"
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != str(current.rv):
            raise conflict(
                rt.group,
                rt.plural,
                name,
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, ResourceVersion in object meta: {current.rv}",
            )
        request = AdmissionRequest(DELETE, rt, None, self.to_version(rt, current.obj, version), None, dry_run, self, version or rt.storage_version)
        self.admission.run_validating(request)
        obj = current.full()
        meta = obj["metadata"]
        finalizers = pending_finalizers(rt, obj)
        policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else None)
        if policy == "Orphan" and "orphan" not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append("orphan")
        if policy == "Foreground" and "foregroundDeletion" not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append("foregroundDeletion")
        if not finalizers:
            if dry_run:
                return Result(self.to_version(rt, obj, version))
            gone = self.store.remove(rt.key, meta.get("namespace", ""), name)
            return Result(self.to_version(rt, gone.full(), version))
        if meta.get("deletionTimestamp") and finalizers == pending_finalizers(rt, current.obj):
            return Result(self.to_version(rt, obj, version))
        added = [f for f in finalizers if f not in pending_finalizers(rt, current.obj)]
        if added:
            meta["finalizers"] = list(meta.get("finalizers") or []) + added
        if not meta.get("deletionTimestamp") and int(meta.get("generation") or 0) > 0:
            # marking an object as deleting is a change of its desired state: its generation is bumped (upstream:
            # staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go markAsDeleting)
            meta["generation"] = int(meta["generation"]) + 1
        meta.setdefault("deletionTimestamp", self.clock.stamp())
        meta.setdefault("deletionGracePeriodSeconds", 0)
        if dry_run:
            return Result(self.to_version(rt, obj, version))
        self.store.put(rt.key, obj, MODIFIED)
        return Result(self.to_version(rt, obj, version))

    # -- events ------------------------------------------------------------------------------------------
    def record_event(self, obj: dict[str, Any], type_: str, reason: str, message: str, component: str) -> dict[str, Any] | None:
        """A core/v1 Event about obj, as controllers record them (in the object's namespace, or `default`), through
        client-go's EventCorrelator (api/event_correlator.py): combined with similar ones past ten different messages,
        dropped past the spam filter's budget for the component and object (None); the same Event again (a controller
        retrying what keeps failing) is the recorded one with its count raised and lastTimestamp moved, so that
        `kubectl describe` shows `(x12 over 30s)` instead of twelve lines. The components that record through
        events.k8s.io's recorder (SERIES_COMPONENTS) only have the same Event counted."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        involved = (obj.get("kind", ""), meta.get("namespace", ""), meta["name"], meta.get("uid", ""), obj.get("apiVersion", ""))
        correlate = self.events.series if component in SERIES_COMPONENTS else self.events.correlate
        verdict = correlate(component, involved, type_, reason, message)
        if verdict.skip:
            return None
        now = self.clock.stamp()
        events = self.registry.types["/events"]
        if verdict.recorded is not None:
            entry = self.store.get(events.key, *verdict.recorded)
            if entry is not None:
                event = {**entry.obj, "message": verdict.message, "count": verdict.count, "lastTimestamp": now}
                return self.update(events, verdict.recorded[0], verdict.recorded[1], event, WriteOptions(version="v1", manager=component)).obj
        event = {
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", ""),
                "kind": obj.get("kind", ""),
                "name": meta["name"],
                "namespace": meta.get("namespace", ""),
                "uid": meta.get("uid", ""),
            },
            "reason": reason,
            "message": verdict.message,
            "type": type_,
            "count": verdict.count,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": component},
            "reportingComponent": component,
        }
        made = self.create(events, namespace, event, WriteOptions(version="v1", manager=component)).obj
        self.events.written(verdict.key, namespace, made["metadata"]["name"])
        return made

    # -- helpers -------------------------------------------------------------------------------------------
    def _schema(self, rt: ResourceType, version: str) -> dict[str, Any]:
        return rt.versions[version].schema

    def _check_body(self, rt: ResourceType, namespace: str, body: Any, version: str, only_status: bool = False) -> dict[str, Any]:
        """The body checked, as a copy the write may change. `only_status`: a write of the status subresource takes
        nothing but the status from it (_merge_subresource), so only the status is copied (a controller's status
        write sends the whole object) and the rest is a shallow copy, read for the checks and preconditions."""
        if not isinstance(body, dict):
            raise decode_failure(rt.kind, version, "the body must be an object")
        if only_status:
            obj = {key: json_copy(value) if key == "status" else value for key, value in body.items()}
            if isinstance(obj.get("metadata"), dict):
                obj["metadata"] = dict(obj["metadata"])  # its name is set below: never the caller's dict
        else:
            obj = json_copy(body)
        want = rt.api_version(version)
        if obj.get("apiVersion") not in (None, want):
            raise bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not match the expected API version ({want})")
        if obj.get("kind") not in (None, rt.kind):
            raise bad_request(f"the kind in the data ({obj.get('kind')}) does not match the expected kind ({rt.kind})")
        obj["apiVersion"], obj["kind"] = want, rt.kind
        meta = obj.setdefault("metadata", {})
        why = objectmeta.decode_errors(meta)
        if why:
            raise decode_failure(rt.kind, version, why)
        if rt.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        return obj

    def _decode(self, rt: ResourceType, obj: dict[str, Any], opts: WriteOptions) -> None:
        """A request's body of a built-in kind as kube-apiserver decodes it into the kind's Go struct before anything
        else runs: a value of the wrong JSON type is the decoder's 400. (A controller's write is not checked: the schema's
        validation still is, and what the simulator's own controllers write decodes.)"""
        version = rt.versions[opts.version]
        if opts.request and version.builtin:
            why = typecheck.go_decode_error(version.schema, obj)
            if why:
                raise decode_failure(rt.kind, opts.version, why)

    def _require_namespace(self, namespace: str) -> None:
        ns_rt = self.registry.types["/namespaces"]
        entry = self.store.get(ns_rt.key, "", namespace)
        if entry is None:
            raise not_found("", "namespaces", namespace)
        if entry.obj["metadata"].get("deletionTimestamp"):
            raise namespace_terminating(namespace)

    def _validate_metadata(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        name = meta["name"]
        causes = []
        if rt.group in ("rbac.authorization.k8s.io", "apiregistration.k8s.io"):  # path segments (`system:basic-user`, `v1.`)
            if name in (".", "..") or "/" in name or "%" in name:
                causes.append(cause("metadata.name", f'Invalid value: "{name}": may not be \'.\' or \'..\' or contain \'/\' or \'%\''))
        else:
            causes += [cause("metadata.name", f'Invalid value: "{name}": {msg}') for msg in objectmeta.name_errors(rt.kind, name)]
        causes += objectmeta.validate(meta)
        if causes:
            raise invalid(rt.group, rt.kind, name, causes)

    def _merge_subresource(self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any], subresource: str | None, with_status: bool = False) -> dict[str, Any]:
        """The status subresource changes only status, a pod's ephemeralcontainers only spec.ephemeralContainers; the
        main resource never changes status (but in a controller's write `with_status`, which keeps the new one)."""
        if not rt.has_status:
            return new
        if with_status and subresource is None:
            if "status" in old and "status" not in new:
                new["status"] = json_copy(old["status"])
            return new
        if subresource == EPHEMERAL:  # upstream's dropNonEphemeralContainerUpdates: the rest is the stored pod's
            kept = json_copy(old)
            ephemeral = (new.get("spec") or {}).get("ephemeralContainers") if isinstance(new.get("spec"), dict) else None
            if ephemeral:
                kept.setdefault("spec", {})["ephemeralContainers"] = ephemeral
            else:
                kept.get("spec", {}).pop("ephemeralContainers", None)
            return kept
        if subresource == "status":
            merged: dict[str, Any] = {}
            for key, value in old.items():  # in the old object's order; its status is replaced, not copied
                if key != "status":
                    merged[key] = json_copy(value)
                elif "status" in new:
                    merged[key] = new["status"]
            if "status" in new and "status" not in merged:  # the first status: last, as the API writes it
                merged["status"] = new["status"]
            return merged
        if "status" in old:
            new["status"] = json_copy(old["status"])
        else:
            new.pop("status", None)
        return new

    def _admit(self, rt: ResourceType, operation: str, obj: dict[str, Any], old: dict[str, Any] | None, opts: WriteOptions) -> list[str]:
        request = AdmissionRequest(operation, rt, obj, old, opts.subresource, opts.dry_run, self, opts.version, user=opts.user)
        version = rt.versions[opts.version]
        ops = version.ops
        # A built-in kind's body is decoded before admission (unknown fields and nulls dropped: SchemaOps.prune); a
        # custom resource's is pruned after the mutating hooks, which may only read fields of the right types (typecheck:
        # a request's body that is not well typed skips them, and the schema's validation below refuses it).
        dropped = None
        if version.builtin:
            dropped = ops.prune(obj, old)
            ops.canonicalize(obj, old)
        mistyped = typecheck.type_error(version.schema, obj, version.builtin) if opts.request else None
        if mistyped is None:
            self.admission.run_mutating(request)
        if dropped is None:
            dropped = ops.prune(obj, old)
        if version.builtin:
            # a built-in kind's unknown fields are the strict JSON decoder's errors: in the body's order, at most 100
            # (upstream: sigs.k8s.io/json internal/golang/encoding/json kubernetes_patch.go saveStrictError)
            del dropped[STRICT_ERRORS_MAX:]
        if dropped and opts.field_validation == "Strict":
            listed = ", ".join(f'unknown field "{d}"' for d in dropped)
            raise decode_failure(rt.kind, opts.version, f"strict decoding error: {listed}")
        if dropped and opts.field_validation != "Ignore":
            request.warnings.extend(f'unknown field "{d}"' for d in dropped)
        ops.default(obj)
        causes = ops.validate(obj, old)
        if mistyped and not causes:  # never so (the walk is held to validation: tests/unit/test_typecheck.py); refused
            causes = [cause("", f"Invalid value: {mistyped}")]  # rather than stored without its mutating admission
        if causes:
            raise invalid(rt.group, rt.kind, obj["metadata"].get("name", ""), causes)
        self.admission.run_validating(request)
        if version.deprecated and version.deprecation_warning:
            request.warnings.insert(0, version.deprecation_warning)
        return request.warnings

    def _commit(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, opts: WriteOptions, event: str) -> dict[str, Any]:
        stored = obj
        if rt.view is not None:
            stored = rt.view.to_stored(json_copy(obj))
            stored["apiVersion"], stored["kind"] = rt.view.of.api_version(), rt.view.of.kind
        elif opts.version != rt.storage_version:
            stored = rt.convert(json_copy(obj), rt.storage_version) if rt.convert else json_copy(obj)
            stored["apiVersion"] = rt.api_version(rt.storage_version)
        meta = stored["metadata"]
        for key in ("labels", "annotations", "finalizers", "ownerReferences"):
            if key in meta and not meta[key]:
                del meta[key]  # empty is absent, as ObjectMeta's omitempty fields serialise
        if opts.dry_run:
            if old is not None:
                meta["resourceVersion"] = old["metadata"].get("resourceVersion")
            return self.to_version(rt, stored, opts.version)
        if old is not None and meta.get("deletionTimestamp") and not pending_finalizers(rt, stored):
            gone = self.store.remove(rt.key, meta.get("namespace", ""), meta["name"])
            return self.to_version(rt, gone.full(), opts.version)
        self.store.put(rt.key, stored, event)  # the entry keeps a slim copy; the response is the whole object
        return self.to_version(rt, stored, opts.version)


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (objects, arrays, scalars) — what every body and stored object is. A write
    copies its body once or twice, so this is a large share of the cost of a write: a round trip through orjson (C)
    is several times cheaper than walking the value in Python, and far cheaper than copy.deepcopy. What orjson
    refuses (an integer beyond 64 bits, a key that is not a string) is copied by the walk, exactly."""
    if not isinstance(value, (dict, list)):
        return value
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return _walk_copy(value)


def _walk_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _walk_copy(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_walk_copy(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def _as_stored(rt: ResourceType, version: str | None) -> bool:
    """Whether `version` of rt is served exactly as stored, without conversion."""
    return rt.view is None and version in (None, rt.storage_version)


def _check_patched(rt: ResourceType, namespace: str, name: str, patched: Any, old: dict[str, Any]) -> None:
    """What a patch may not do, as kube-apiserver's patch handler words it: produce something that is not an
    object, rename or move the object (400), or change its uid (422, immutable). The patched object is never
    quoted: it may hold Secret data."""
    meta = patched.get("metadata") if isinstance(patched, dict) else None
    why = "the patched object is not an object" if not isinstance(patched, dict) else objectmeta.decode_errors(meta if meta is not None else {})
    if why:
        raise invalid("", "", "", [cause("patch", f"Invalid value: \"{{...}}\": {why}")])
    patched.setdefault("metadata", {})
    meta = patched["metadata"]
    if meta.get("name", "") != name:
        raise bad_request(f"the name of the object ({meta.get('name', '')}) does not match the name on the URL ({name})")
    if namespace and meta.get("namespace") and meta["namespace"] != namespace:
        raise bad_request(f"the namespace of the object ({meta['namespace']}) does not match the namespace on the URL ({namespace})")
    if meta.get("uid") and meta["uid"] != old["metadata"].get("uid"):
        raise invalid(rt.group, rt.kind, name, [cause("metadata.uid", f"Invalid value: \"{meta['uid']}\": field is immutable")])


def pending_finalizers(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    """metadata.finalizers, plus a Namespace's spec.finalizers (the namespace controller's own)."""
    out = list(obj["metadata"].get("finalizers") or [])
    if rt.kind == "Namespace" and not rt.group:
        out += list(obj.get("spec", {}).get("finalizers") or [])
    return out


def _spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = (set(old) | set(new)) - {"metadata", "status", "apiVersion", "kind"}
    return any(old.get(k) != new.get(k) for k in keys)


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """A write that changes nothing but managedFields timestamps is not a write."""

    def strip(o: dict[str, Any]) -> dict[str, Any]:
        o = dict(o)
        meta = dict(o["metadata"])
        meta.pop("resourceVersion", None)
        meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in meta.get("managedFields") or []]
        o["metadata"] = meta
        return o

    return strip(old) == strip(new)
