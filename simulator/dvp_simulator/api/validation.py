"""Structural-schema admission: defaulting, pruning of unknown fields, OpenAPI validation (jsonschema) and
`x-kubernetes-validations` CEL rules (cel-python), with causes worded as kube-apiserver words them."""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

import celpy
import fastjsonschema
from celpy import json_to_cel

from ..schemas.builtin import MARKER, QUANTITY
from . import cel_parser, quantities
from .errors import cause

CEL_RESERVED = {
    "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if",
    "import", "let", "loop", "package", "namespace", "return", "var", "void", "while",
}  # fmt: skip


def cel_escape(name: str) -> str:
    """Property names as CEL sees them (`namespace` → `__namespace__`, `a-b` → `a__dash__b`)."""
    if name in CEL_RESERVED:
        return f"__{name}__"
    return name.replace("__", "__underscores__").replace(".", "__dot__").replace("-", "__dash__").replace("/", "__slash__")


def _cel_value(value: Any) -> Any:
    if isinstance(value, dict):
        return json_to_cel({cel_escape(k): _plain(v) for k, v in value.items()})
    return json_to_cel(_plain(value))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {cel_escape(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@lru_cache(maxsize=1)
def _cel_env() -> celpy.Environment:
    """The CEL environment, made at the first rule compiled, over the parser from cel_parser's cache."""
    cel_parser.install()
    return celpy.Environment()


def _str(fn):
    return lambda *args: celpy.celtypes.StringType(fn(*(str(a) if isinstance(a, str) else a for a in args)))


# Kubernetes' CEL string library (k8s.io/apiserver/pkg/cel/library), which CRD rules may use.
K8S_STRING_FUNCTIONS = {
    "replace": _str(lambda s, old, new, n=-1: s.replace(old, new, int(n))),
    "lowerAscii": _str(lambda s: s.lower()),
    "upperAscii": _str(lambda s: s.upper()),
    "trim": _str(lambda s: s.strip()),
    "indexOf": lambda s, sub, start=0: celpy.celtypes.IntType(str(s).find(str(sub), int(start))),
    "lastIndexOf": lambda s, sub: celpy.celtypes.IntType(str(s).rfind(str(sub))),
    "split": lambda s, sep, n=-1: celpy.celtypes.ListType([celpy.celtypes.StringType(x) for x in str(s).split(str(sep), int(n) if int(n) >= 0 else -1)]),
    "join": lambda items, sep="": celpy.celtypes.StringType(str(sep).join(str(x) for x in items)),
}


@lru_cache(maxsize=1024)
def cel_program(rule: str) -> Any:
    env = _cel_env()
    return env.program(env.compile(rule), functions=K8S_STRING_FUNCTIONS)


@lru_cache(maxsize=8192)
def cel_verdict(rule: str, self_json: str, old_json: str | None) -> tuple[bool, str | None]:
    """(passed, evaluation error) of a rule on values given as canonical JSON. CEL is pure (no clock, no I/O),
    so the verdict is a function of these strings and is memoised: cel-python interprets its parse tree at
    ~1 ms per rule, and most writes carry values already judged (the same spec, the same sources)."""
    activation = {"self": _cel_value(json.loads(self_json))}
    if old_json is not None:
        activation["oldSelf"] = _cel_value(json.loads(old_json))
    try:
        ok = cel_program(rule).evaluate(activation)
    except celpy.CELEvalError as exc:
        return False, str(exc)
    return ok is True or (isinstance(ok, celpy.celtypes.BoolType) and bool(ok)), None


_SELF_USE = re.compile(r"\b(?:self|oldSelf)\b(?:\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\())?")


@lru_cache(maxsize=1024)
def rule_fields(rule: str) -> frozenset[str] | None:
    """The (CEL-escaped) fields a rule reads of `self` and `oldSelf` when it reads them only as `self.<field>` (a
    field selection, `has(self.<field>)` included); None when it uses either otherwise (bare, indexed, a method or
    macro on it: `size(self)`, `self == oldSelf`, `self.all(…)`). A rule of the first kind is a function of those
    fields alone, so its verdict is memoised on them: a VM's spec rules read `cpu`, `osType`, `bootloader`…, and
    the same fields recur across VMs whose specs differ elsewhere (names, disks), where the whole spec never does.
    Conservative by construction: an identifier inside a string literal only adds a field or gives up."""
    fields = set()
    for match in _SELF_USE.finditer(rule):
        if match.group(1) is None:
            return None
        fields.add(match.group(1))
    return frozenset(fields)


def _projected(value: Any, fields: frozenset[str]) -> Any:
    """The members of an object a rule can see through `fields`; other values unchanged."""
    if not isinstance(value, dict):
        return value
    return {k: v for k, v in value.items() if cel_escape(k) in fields}


class _Traced(celpy.celtypes.MapType):
    """`self` of a rule that reads it only as `self.<field>`: every field selection (`has()` included, which is a
    selection whose error it tests) lands in `seen`, present or not."""

    def __init__(self, items: dict[str, Any], seen: set[str]) -> None:
        super().__init__(items)
        self.seen = seen

    def __getitem__(self, key: Any) -> Any:
        self.seen.add(key)
        return super().__getitem__(key)


# rule -> the sets of fields its evaluations have read (a rule reads few: one per path through its conditions);
# (rule, read fields, those fields' values as canonical JSON) -> verdict. Bounded: cleared when full.
_READS: dict[str, list[frozenset[str]]] = {}
_TRACED: dict[tuple[str, frozenset[str], str], bool] = {}
TRACED_MAX, READS_MAX = 16384, 8


def traced_verdict(rule: str, value: dict[str, Any]) -> bool | None:
    """The verdict of a rule that reads `self` only as `self.<field>` (and no oldSelf), memoised on the fields its
    evaluation actually read: CEL is pure and deterministic and `self` is seen only through field selections, so an
    evaluation that read fields F of a value gives the same verdict on every value that agrees on F (presence
    included) - it takes the same path. `has(self.osType) && self.osType == 'Legacy' ? size(self.blockDeviceRefs)
    <= 4 : true` reads osType alone for a Generic VM: every such VM shares one verdict whatever its disks, where
    memoising on rule_fields would key on blockDeviceRefs too. None when the evaluation errs (the caller words the
    error from the whole value)."""
    for fields in _READS.get(rule, ()):
        known = _TRACED.get((rule, fields, json.dumps(_projected(value, fields), sort_keys=True)))
        if known is not None:
            return known
    seen: set[str] = set()
    try:
        ok = cel_program(rule).evaluate({"self": _Traced({cel_escape(k): json_to_cel(_plain(v)) for k, v in value.items()}, seen)})
    except celpy.CELEvalError:
        return None
    verdict = ok is True or (isinstance(ok, celpy.celtypes.BoolType) and bool(ok))
    fields = frozenset(seen)
    if not fields and rule_fields(rule):
        return verdict  # it read nothing it names: a `self` that was not ours (a copy)? Then nothing is learnt
    reads = _READS.setdefault(rule, [])
    if fields not in reads and len(reads) < READS_MAX:
        reads.append(fields)
    if len(_TRACED) >= TRACED_MAX:
        _TRACED.clear()
    _TRACED[(rule, fields, json.dumps(_projected(value, fields), sort_keys=True))] = verdict
    return verdict


def rule_verdict(rule: str, value: Any, old: Any, uses_old: bool) -> tuple[bool, str | None]:
    """cel_verdict of a rule on these values, memoised on what the rule reads of them (traced_verdict, rule_fields);
    an evaluation error is always worded from the whole values, as an unmemoised evaluation would word it."""
    fields = rule_fields(rule)
    if fields is not None and isinstance(value, dict) and not uses_old:
        verdict = traced_verdict(rule, value)
        if verdict is not None:
            return verdict, None
    if fields is not None and isinstance(value, dict) and (not uses_old or isinstance(old, dict)):
        seen = json.dumps(_projected(value, fields), sort_keys=True)
        ok, error = cel_verdict(rule, seen, json.dumps(_projected(old, fields), sort_keys=True) if uses_old else None)
        if error is None:
            return ok, None
    return cel_verdict(rule, json.dumps(value, sort_keys=True), json.dumps(old, sort_keys=True) if uses_old else None)


# -- OpenAPI → JSON Schema ---------------------------------------------------------------------------------
def to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI v3 structural schema as draft-7 JSON Schema (nullable, int-or-string, no extensions). The subschemas of
    a built-in kind's models (marked MARKER by schemas/builtin.py) are written once, as `definitions` the places that
    use them refer to: a Pod holds a Container in three places and probes in nine, and the compiled check of the whole
    inline schema was ~3 MB of code."""
    definitions: dict[str, Any] = {}
    out = _json_schema(node, definitions, {}, top=True)
    if definitions:
        out["definitions"] = definitions
    return out


def _json_schema(node: dict[str, Any], definitions: dict[str, Any], seen: dict[str, str], top: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in ("description", "example", "default", "nullable"):
            continue
        if key == "properties":
            out[key] = {k: _json_schema(v, definitions, seen) for k, v in value.items()}
        elif key in ("items", "not") and isinstance(value, dict):
            out[key] = _json_schema(value, definitions, seen)
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = _json_schema(value, definitions, seen)
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [_json_schema(v, definitions, seen) for v in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    model = node.get(MARKER)
    if model and not top and "properties" in out:
        text = json.dumps(out, sort_keys=True)
        ref = seen.get(text)
        if ref is None:
            name = model if model not in definitions else f"{model}-{len(definitions)}"
            definitions[name] = out
            ref = seen[text] = f"#/definitions/{name}"
        return {"$ref": ref}
    return out


def _int32(value: Any) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


def _int64(value: Any) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def _byte(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        base64.b64decode(value, validate=True)
        return True
    except ValueError:
        return False


def _date_time(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def field_path(parts: Iterator[Any] | list[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def describe(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    if value is None:
        return "null"
    return str(value)


def _is_integer(checker: Any, instance: Any) -> bool:
    """An integer as kube-openapi's validator counts one (swag.IsFloat64AJSONInteger): an int, or a float with no
    fraction within ±2^53 — a number past that (an integer beyond int64, which JSON decoding makes a float) is not
    one, where draft 7 would take any integral float."""
    if isinstance(instance, bool):
        return False
    return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer() and abs(instance) < 2**53)


@lru_cache(maxsize=1)
def _jsonschema() -> tuple[Any, Any]:
    """jsonschema's draft-7 validator class, with kube-openapi's integer and the formats kube-apiserver checks, and its
    format checker. Imported when first needed — to word what fastjsonschema's check refused, or for a schema it cannot
    compile — not at start: jsonschema and its libraries are ~80 ms of imports."""
    import jsonschema

    formats = jsonschema.FormatChecker(formats=())
    for name, check in (("int32", _int32), ("int64", _int64), ("byte", _byte), ("date-time", _date_time)):
        formats.checks(name)(check)
    draft7 = jsonschema.Draft7Validator
    return jsonschema.validators.extend(draft7, type_checker=draft7.TYPE_CHECKER.redefine("integer", _is_integer)), formats


JS_TYPES = {"integer": "integer", "string": "string", "boolean": "boolean", "number": "number", "object": "object", "array": "array"}  # fmt: skip


def _error_cause(err: Any) -> dict[str, str]:
    """A jsonschema error (jsonschema.ValidationError) in kube-apiserver's wording."""
    path = field_path(err.absolute_path)
    v, inst, arg = err.validator, err.instance, err.validator_value
    if v == "required":
        missing = re.search(r"'([^']+)' is a required property", err.message)
        name = missing.group(1) if missing else "?"
        return cause(field_path([*err.absolute_path, name]), "Required value", "FieldValueRequired")
    if v == "enum":
        listed = ", ".join(f'"{x}"' if isinstance(x, str) else str(x) for x in arg)
        return cause(path, f"Unsupported value: {describe(inst)}: supported values: {listed}", "FieldValueNotSupported")
    if v == "type":
        expected, seen = _type_names(err.schema, arg, inst)
        return cause(path, f'Invalid value: "{seen}": {path} in body must be of type {expected}: "{seen}"', "FieldValueTypeInvalid")
    if v == "pattern":
        return cause(path, f"Invalid value: {describe(inst)}: {path} in body should match '{arg}'")
    if v == "minimum":
        return cause(path, f"Invalid value: {describe(inst)}: {path} in body should be greater than or equal to {arg}")
    if v == "maximum":
        return cause(path, f"Invalid value: {describe(inst)}: {path} in body should be less than or equal to {arg}")
    if v == "minLength":
        return cause(path, f"Invalid value: {describe(inst)}: {path} in body should be at least {arg} chars long")
    if v == "maxLength":
        return cause(path, f"Too long: may not be more than {arg} bytes", "FieldValueTooLong")
    if v == "maxItems":
        return cause(path, f"Too many: {len(inst)}: must have at most {arg} items", "FieldValueTooMany")
    if v == "minItems":
        return cause(path, f"Invalid value: {len(inst)}: {path} in body should have at least {arg} items")
    if v == "format":
        return cause(path, f"Invalid value: {describe(inst)}: {path} in body must be of type {arg}: {describe(inst)}")
    return cause(path, f"Invalid value: {describe(inst)}: {err.message}")


# kube-openapi's names of a decoded value's type and format (validate.typeValidator.schemaInfoForType): JSON integers
# are int64 (the decoder keeps integers), other numbers float64 ("double")
def _type_names(schema: Any, expected: Any, value: Any) -> tuple[str, str]:
    """(the type the schema wants, the type the value has) as kube-openapi's type check words a mismatch: the value's
    JSON type, not the value; where the schema also has a format and the value is neither a string nor a list, the
    check compares formats first and names both by format (an int32 field given `true`: type int32, value "")."""
    if value is None:
        seen, fmt = "null", ""
    elif isinstance(value, bool):
        seen, fmt = "boolean", ""
    elif isinstance(value, int):
        seen, fmt = "integer", "int64"
    elif isinstance(value, float):
        seen, fmt = "number", "double"
    else:
        seen, fmt = ("string", "") if isinstance(value, str) else ("array", "") if isinstance(value, list) else ("object", "")
    wanted = ",".join(t for t in (expected if isinstance(expected, list) else [expected]) if t != "null")
    want_fmt = schema.get("format") if isinstance(schema, dict) else None
    if want_fmt and not isinstance(value, str | list) and value is not None:
        return want_fmt, fmt
    return wanted, seen


class SchemaOps:
    """Everything admission does with one version's structural schema."""

    def __init__(self, schema: dict[str, Any], builtin: bool = False):
        self.schema = schema
        # a built-in kind's: its fields are Go struct fields, into which kube-apiserver decodes `null` as the zero
        # value (and encodes it back as absent): a declared field sent as null is dropped rather than refused
        self.builtin = builtin
        self.json_schema = to_json_schema(schema)
        self._validator: Any = None  # jsonschema's, made when first needed (_jsonschema)
        self._fast: Callable[[Any], Any] | None = None  # compiled on first use: most versions never see a write
        self._parts: Any = False  # _fast_parts: False until compiled, then the parts or None
        # The subschemas (by id; self.schema keeps them alive) under which a walk has something to do: a CEL rule, a
        # default. Defaulting and CEL skip every other subtree of a write instead of walking each of its values.
        self.with_rules = _marked(schema, lambda node: bool(node.get("x-kubernetes-validations")), ("properties", "items"))
        self.with_defaults = _marked(schema, lambda node: "default" in node, ("properties", "items", "additionalProperties"))
        self.with_quantities = _marked(schema, lambda node: node.get(MARKER) == QUANTITY, ("properties", "items", "additionalProperties")) if builtin else set()

    def validator(self) -> Any:
        """jsonschema's validator of the schema, the authority on what is wrong with an object."""
        if self._validator is None:
            validator_class, formats = _jsonschema()
            self._validator = validator_class(self.json_schema, format_checker=formats)
        return self._validator

    # -- defaults ----------------------------------------------------------------------------------------
    def default(self, obj: Any) -> None:
        _default(self.schema, obj, self.with_defaults)

    # -- quantities --------------------------------------------------------------------------------------
    def canonicalize(self, obj: dict[str, Any], old: Any = None) -> None:
        """A built-in kind's quantities as kube-apiserver writes them back: resource.Quantity decodes a string or a
        JSON number and encodes its canonical string (0.5 → "500m", 1073741824 → "1073741824", "1024Mi" → "1Gi").
        Top-level fields equal to the stored object's (`old`) were canonical when stored."""
        if not self.with_quantities:
            return
        same = unchanged_fields(obj, old)
        props = self.schema.get("properties") or {}
        for name, value in obj.items():
            sub = props.get(name)
            if name not in same and name != "metadata" and sub is not None and id(sub) in self.with_quantities:
                _canonical(sub, value, self.with_quantities)

    # -- pruning -----------------------------------------------------------------------------------------
    def prune(self, obj: Any, old: Any = None) -> list[str]:
        """Drop fields the schema does not declare; returns their paths (for Warn / Strict). On an update, a
        top-level field equal to the stored object's (`old`: the spec of a status write) is not walked: it was
        pruned when it was written, and the request did not send anything new in it."""
        dropped: list[str] = []
        _prune(self.schema, obj, [], dropped, top=True, same=unchanged_fields(obj, old), nulls=self.builtin)
        return dropped

    # -- validation --------------------------------------------------------------------------------------
    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[dict[str, str]]:
        """The schema's and the CEL rules' causes against obj. On an update, ratcheted as kube-apiserver ≥ 1.30
        (CRDValidationRatcheting): what the update leaves unchanged is not held against it — here a top-level field
        equal to the stored object's (the spec of a status write) is not checked again, which is also most of a
        controller's write's schema check saved."""
        same = unchanged_fields(obj, old)
        if not self._fast_valid(obj, same):  # jsonschema is the authority; it only runs to word what is wrong
            errors = [e for e in self.validator().iter_errors(obj) if not (e.absolute_path and e.absolute_path[0] in same)]
            causes = [_error_cause(e) for e in sorted(errors, key=lambda e: list(e.absolute_path))]
            if causes:
                return causes
        return list(_cel(self.schema, obj, old, [], has_old=old is not None, ruled=self.with_rules))


    def _fast_valid(self, obj: Any, same: frozenset[str] = frozenset()) -> bool:
        """fastjsonschema's compiled check of the same draft-7 schema (~20x faster than jsonschema's walk, which
        dominated every write). It is at least as strict: integer formats become bounds (it checks formats on
        strings only), and formats jsonschema does not check here only send more objects to jsonschema. The
        top-level fields in `same` are not checked: draft-7's `properties` checks each field on its own, so the
        object is checked by a shell (the top level's own keywords, every field allowed) and a check per field."""
        if same and isinstance(obj, dict):
            parts = self._fast_parts()
            if parts is not None:
                shell, fields = parts
                try:
                    shell(obj)
                    for name, value in obj.items():
                        if name not in same and name in fields:
                            fields[name](value)
                    return True
                except fastjsonschema.JsonSchemaException:
                    return False
        if self._fast is None:  # a schema that does not compile (a Go regular expression Python cannot): jsonschema alone
            self._fast = _compiled(_fast_schema(self.json_schema)) or _never_sure
        try:
            self._fast(obj)
            return True
        except fastjsonschema.JsonSchemaException:
            return False

    def _fast_parts(self) -> tuple[Callable[[Any], Any], dict[str, Callable[[Any], Any]]] | None:
        """The shell and the per-field checks of _fast_valid, compiled on first use; None where one does not
        compile (the whole check decides then)."""
        if self._parts is False:
            self._parts = None
            whole = _fast_schema(self.json_schema)
            props = whole.get("properties")
            if isinstance(props, dict):
                shell = _compiled({**whole, "properties": {name: {} for name in props}, "definitions": {}})
                definitions = whole.get("definitions")
                fields = {name: _compiled({**sub, "definitions": definitions} if definitions else sub) for name, sub in props.items()}
                if shell is not None and all(check is not None for check in fields.values()):
                    self._parts = (shell, fields)  # type: ignore[assignment]
        return self._parts  # type: ignore[return-value]


def unchanged_fields(obj: Any, old: Any) -> frozenset[str]:
    """The top-level fields of obj equal to the stored object's (none on a create)."""
    if not isinstance(old, dict) or not isinstance(obj, dict):
        return frozenset()
    return frozenset(name for name, value in obj.items() if name in old and (old[name] is value or old[name] == value))


def _compiled(schema: Any) -> Callable[[Any], Any] | None:
    try:
        return fastjsonschema.compile(schema, formats=FAST_FORMATS, use_default=False, detailed_exceptions=False)
    except (fastjsonschema.JsonSchemaDefinitionException, re.error):
        return None


def _never_sure(obj: Any) -> None:
    raise fastjsonschema.JsonSchemaException("no compiled check for this schema")


_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]
_INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
FAST_FORMATS = {"byte": _byte, "date-time": _date_time}


def _fast_schema(node: Any) -> Any:
    """A copy of a draft-7 schema where int32/int64 formats are also written as minimum/maximum."""
    if isinstance(node, list):
        return [_fast_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _fast_schema(v) for k, v in node.items()}
    if out.get("anyOf") == _INT_OR_STRING and "type" not in out:
        # int-or-string as one type check: fastjsonschema tries anyOf's branches by raising and catching an
        # exception (with a formatted message) for every string a quantity or port is written as
        del out["anyOf"]
        out["type"] = ["integer", "string"]
    if isinstance(out.get("pattern"), str):
        out["pattern"] = _class_dollars_escaped(out["pattern"])
    fmt = out.get("format")
    bounds = _INT_BOUNDS.get(fmt) if isinstance(fmt, str) else None  # (a property may be *named* "format")
    if bounds is None and out.get("type") == "integer" and not isinstance(out.get("properties"), dict):
        bounds = _INT_BOUNDS["int64"]  # fastjsonschema takes any integral float as an integer: 1e23 is none
    if bounds and "enum" not in out:
        out["minimum"] = max(out.get("minimum", bounds[0]), bounds[0])
        out["maximum"] = min(out.get("maximum", bounds[1]), bounds[1])
    return out


def _marked(schema: dict[str, Any], own: Callable[[dict[str, Any]], bool], keys: tuple[str, ...]) -> set[int]:
    """Ids of the subschemas of `schema` (itself included) for which `own(node)` holds at or below them, following
    `keys` (properties' values, items, additionalProperties)."""
    marked: set[int] = set()

    def visit(node: Any) -> bool:
        if not isinstance(node, dict):
            return False
        hit = own(node)
        for key in keys:
            sub = node.get(key)
            if key == "properties" and isinstance(sub, dict):
                for child in sub.values():
                    hit = visit(child) or hit
            elif isinstance(sub, dict):
                hit = visit(sub) or hit
        if hit:
            marked.add(id(node))
        return hit

    visit(schema)
    return marked


def _class_dollars_escaped(pattern: str) -> str:
    """The pattern with every `$` inside a character class written `\\$` (the same literal dollar). fastjsonschema
    turns each unescaped `$` into `\\Z`, also inside `[...]`, where `\\Z` is a bad escape: a pattern like the image
    URL's `[$-_@.&+]` left the whole schema without a compiled check, so every write of it took jsonschema's walk."""
    out, in_class, escaped, start = [], False, False, -1
    for i, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif not in_class and char == "[":
            in_class, start = True, i
        elif in_class and char == "]" and i > start + 1 and not (i == start + 2 and pattern[start + 1] == "^"):
            in_class = False
        elif in_class and char == "$":
            out.append("\\")
        out.append(char)
    return "".join(out)


def _canonical(schema: dict[str, Any], value: Any, marked: set[int]) -> None:
    """Replace the quantities in value by their canonical strings, descending only where one is declared (`marked`)."""
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in value and id(sub) in marked:
                if sub.get(MARKER) == QUANTITY:
                    value[name] = _canonical_quantity(value[name])
                else:
                    _canonical(sub, value[name], marked)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and id(extra) in marked:
            for key, item in value.items():
                if extra.get(MARKER) == QUANTITY:
                    value[key] = _canonical_quantity(item)
                else:
                    _canonical(extra, item, marked)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict) and id(schema["items"]) in marked:
        items = schema["items"]
        for i, item in enumerate(value):
            if items.get(MARKER) == QUANTITY:
                value[i] = _canonical_quantity(item)
            else:
                _canonical(items, item, marked)


def _canonical_quantity(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value  # not a quantity: validation words it
    return _canonical_text(value)


@lru_cache(maxsize=4096)
def _canonical_text(value: str | int | float) -> Any:
    return quantities.normalized(value)  # memoised: a cluster's pods and nodes repeat a handful of quantities


def _default(schema: dict[str, Any], value: Any, marked: set[int]) -> None:
    """Apply the schema's defaults to value, descending only where a default is declared below (`marked`)."""
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if id(sub) not in marked:
                continue
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _default(sub, value[name], marked)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and id(extra) in marked:
            for v in value.values():
                _default(extra, v, marked)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict) and id(schema["items"]) in marked:
        for item in value:
            _default(schema["items"], item, marked)


def _prune(
    schema: dict[str, Any], value: Any, path: list[Any], dropped: list[str], top: bool = False, same: frozenset[str] = frozenset(), nulls: bool = False
) -> None:
    """Drop what the schema does not declare, in the order of the object (a depth-first walk, as a decoder meets the
    fields); `nulls`: also drop declared fields whose value is null (a built-in kind's, see SchemaOps.builtin). `path`
    is the walk's own stack (appended and popped), turned into a field path only for what is dropped."""
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        for name in list(value):
            if top and (name in ("apiVersion", "kind", "metadata") or name in same):
                continue  # metadata is ObjectMeta, validated by the server itself; `same`: see SchemaOps.prune
            if props and name in props:
                child = value[name]
                if isinstance(child, (dict, list)):
                    path.append(name)
                    _prune(props[name], child, path, dropped, nulls=nulls)
                    path.pop()
                elif nulls and child is None:
                    del value[name]
            elif isinstance(extra, dict):
                child = value[name]
                if isinstance(child, (dict, list)):
                    path.append(name)
                    _prune(extra, child, path, dropped, nulls=nulls)
                    path.pop()
            elif extra is True or preserve:
                continue
            elif props is None and schema.get("type") != "object":
                continue  # not an object schema (int-or-string, anyOf…): nothing to prune against
            else:
                dropped.append(field_path([*path, name]))
                del value[name]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = schema["items"]
        for i, item in enumerate(value):
            if isinstance(item, (dict, list)):
                path.append(i)
                _prune(items, item, path, dropped, nulls=nulls)
                path.pop()


def _cel(schema: dict[str, Any], value: Any, old: Any, path: list[Any], has_old: bool, ruled: set[int]) -> Iterator[dict[str, str]]:
    """Evaluate CEL rules bottom-up as the apiserver does; transition rules only where an old value exists.
    Ratcheting, as kube-apiserver ≥ 1.30 (CRDValidationRatcheting): a rule without oldSelf is not evaluated on
    a value the update leaves unchanged — so a status write does not re-check the untouched spec. Subtrees whose
    schema has no rule at or below it (not in `ruled`) are not walked."""
    if id(schema) not in ruled:
        return
    unchanged = has_old and value == old
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value and id(sub) in ruled:
                o = old.get(name) if isinstance(old, dict) else None
                yield from _cel(sub, value[name], o, path + [name], has_old and isinstance(old, dict) and name in old, ruled)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from _cel(schema["items"], item, None, path + [i], False, ruled)
    for rule in schema.get("x-kubernetes-validations", ()):
        expr = rule["rule"]
        uses_old = "oldSelf" in expr
        if (uses_old and not has_old) or (unchanged and not uses_old):
            continue
        ok, error = rule_verdict(expr, value, old, uses_old)
        if error is not None:
            yield cause(field_path(path), f"Invalid value: {describe(value)}: rule evaluation failed: {error}")
            continue
        if not ok:
            message = rule.get("message") or f"failed rule: {' '.join(expr.split())}"
            where = field_path(path + rule["fieldPath"].strip(".").split(".")) if rule.get("fieldPath") else field_path(path)
            yield cause(where, f"Invalid value: {describe(value)}: {message}")
