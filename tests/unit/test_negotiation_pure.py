"""The pure helpers behind the API's fidelity to kube-apiserver 1.33: Accept negotiation and the YAML writer
(api/negotiation.py), Go's error texts (api/golang.py), the words of an undecodable body (api/decoding.py), continue
tokens (api/options.py) and which kinds keep metadata.generation (api/service.py)."""

from __future__ import annotations

import base64
import json
import time

import pytest
import yaml

from dvp_simulator.api import decoding, golang, negotiation, options
from dvp_simulator.api.errors import APIError
from dvp_simulator.api.negotiation import JSON, PROTOBUF, YAML, MediaType
from dvp_simulator.api.service import tracks_generation
from dvp_simulator.resources import build_registry


# -- Accept ---------------------------------------------------------------------------------------------------------
def test_clauses_are_sorted_as_goautoneg_sorts_them():
    # its Less is no strict order: a specific type goes before a wildcard whatever their q, as Go's insertion sort leaves it
    order = [f"{c.type}/{c.subtype}" for c in negotiation.parse_accept("text/*;q=0.9, */*, application/json;q=0.9, application/yaml")]
    assert order == ["application/yaml", "application/json", "*/*", "text/*"]
    assert [c.subtype for c in negotiation.parse_accept("application/json;q=0.5, application/yaml;q=0.8, application/cbor")] == ["cbor", "yaml", "json"]
    assert negotiation.parse_accept("a/b;q=0.9")[0].q == pytest.approx(0.9)  # a float32, as strconv.ParseFloat(s, 32)
    # q that strconv.ParseFloat refuses is 0; spaces around parameters are trimmed, a range without '/' is dropped
    clauses = negotiation.parse_accept("application/json;q= 0.5, application ,  application/yaml ; as = Table")
    assert [(c.subtype, c.q, c.params) for c in clauses] == [("yaml", 1.0, {"as": "Table"}), ("json", 0.0, {})]


def test_a_long_accept_header_costs_no_quadratic_time():
    header = ",".join(f"text/x{i};q=0.5" for i in range(3000)) + ",application/json;q=0.4"
    start = time.perf_counter()
    assert negotiation.negotiate(header) == MediaType(JSON)
    assert time.perf_counter() - start < 2, "an insertion sort of 3,000 clauses takes seconds"


@pytest.mark.parametrize(
    "accept, custom, expected",
    [
        ("", False, MediaType()),
        ("*/*", True, MediaType(JSON)),
        ("application/*", False, MediaType(JSON)),
        ("application/yaml", True, MediaType(YAML)),
        ("application/vnd.kubernetes.protobuf", False, MediaType(PROTOBUF)),
        ("application/vnd.kubernetes.protobuf, application/json", True, MediaType(JSON)),
        ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json", True, MediaType(JSON, "Table", "v1")),
        ("application/yaml;as=Table;v=v1beta1;g=meta.k8s.io", False, MediaType(YAML, "Table", "v1beta1")),
        ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json", False, MediaType(JSON)),
        ("application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1", True, MediaType(PROTOBUF, "PartialObjectMetadataList")),
        ("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2, application/yaml", False, MediaType(YAML)),
        ("application/json;g=meta.k8s.io;v=v1, application/yaml", False, MediaType(YAML)),
        ("application/json;sv=v2, application/json;sv=v1", False, MediaType(JSON)),
        ("application/yaml;stream=watch, application/json", False, MediaType(JSON)),
        ("application/json;pretty=1;export=1", False, MediaType(JSON)),
    ],
)
def test_negotiate(accept, custom, expected):
    assert negotiation.negotiate(accept, custom=custom) == expected


@pytest.mark.parametrize(
    "accept, custom", [("text/html", False), ("application/json;as=Table", False), ("application/vnd.kubernetes.protobuf", True), ("Application/JSON", False)]
)
def test_not_acceptable(accept, custom):
    with pytest.raises(APIError):
        negotiation.negotiate(accept, custom=custom)
    with pytest.raises(APIError) as err:  # again: negotiate remembers the answers it gives, never a refusal
        negotiation.negotiate(accept, custom=custom)
    assert (err.value.code, err.value.reason) == (406, "NotAcceptable")
    assert err.value.message == "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"


def test_a_watch_needs_a_stream_serializer():
    assert negotiation.negotiate("application/vnd.kubernetes.protobuf;stream=watch", watch=True) == MediaType(PROTOBUF)
    with pytest.raises(APIError) as err:
        negotiation.negotiate("application/yaml, application/json", watch=True)
    assert err.value.message.endswith(": application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch")


def test_an_error_is_yaml_only_when_a_plain_yaml_clause_wins():
    assert negotiation.error_media("application/yaml") == YAML
    assert negotiation.error_media("application/yaml;as=Table;v=v1;g=meta.k8s.io, application/json") == JSON
    assert negotiation.error_media("text/html") == JSON
    assert negotiation.error_media("") == JSON


def test_go_type_names():
    assert negotiation.go_type("", "ConfigMap", False, False) == "*core.ConfigMap"
    assert negotiation.go_type("events.k8s.io", "Event", False, True) == "*core.EventList"
    assert negotiation.go_type("policy", "PodDisruptionBudget", False, False) == "*policy.PodDisruptionBudget"
    assert negotiation.go_type("virtualization.deckhouse.io", "VirtualMachine", True, True) == "*unstructured.UnstructuredList"


# -- YAML -----------------------------------------------------------------------------------------------------------
def test_yaml_as_go_yaml_writes_it():
    obj = {"b": {"a10": 1, "a2": "true", "A": "", "_x": None, "z": "x: y"}, "a": ["multi\nline\n", "1.5", "2024-01-01T00:00:00Z", "plain"]}
    text = negotiation.to_yaml(obj).decode()
    assert text == (
        "a:\n"
        "- |\n"
        "  multi\n"
        "  line\n"
        '- "1.5"\n'
        '- "2024-01-01T00:00:00Z"\n'
        "- plain\n"
        "b:\n"
        "  _x: null\n"
        '  A: ""\n'
        '  a2: "true"\n'
        "  a10: 1\n"
        "  z: 'x: y'\n"
    )
    assert yaml.safe_load(text) == obj | {"a": ["multi\nline\n", "1.5", "2024-01-01T00:00:00Z", "plain"]}


# -- Go's error texts -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, error",
    [
        (b"", "unexpected end of JSON input"),
        (b"  {", "unexpected end of JSON input"),
        (b'"a', "unexpected end of JSON input"),
        (b"{bad", "invalid character 'b' looking for beginning of object key string"),
        (b"[1,]", "invalid character ']' looking for beginning of value"),
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b"1 2", "invalid character '2' after top-level value"),
        (b"01", "invalid character '1' after top-level value"),
        (b"tru", "invalid character ' ' in literal true (expecting 'e')"),
        (b"nxll", "invalid character 'x' in literal null (expecting 'u')"),
        (b"-", "invalid character ' ' in numeric literal"),
        (b"1.", "invalid character ' ' after decimal point in numeric literal"),
        (b"1e+", "invalid character ' ' in exponent of numeric literal"),
        (b'"\\x"', "invalid character 'x' in string escape code"),
        (b'"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"),
        (b'"a\tb"', "invalid character '\\t' in string literal"),
        (b"NaN", "invalid character 'N' looking for beginning of value"),
        (b"'x'", "invalid character '\\'' looking for beginning of value"),
        (b"\x00", "invalid character '\\x00' looking for beginning of value"),
        (b"\x81", "invalid character '\\u0081' looking for beginning of value"),
        (b"\xef\xbb\xbf{}", "invalid character '\u00ef' looking for beginning of value"),
    ],
)
def test_json_syntax_errors_in_gos_words(data, error):
    assert golang.json_syntax_error(data) == error


@pytest.mark.parametrize("data", [b' {"a": [1, -2.5e+3, 0, 0.5E-2, true, false, null, "x\\u00e9\\n\\"", {}, []]} ', b"7", b'"\xff"', b"[]"])
def test_valid_json_has_no_syntax_error(data):
    assert golang.json_syntax_error(data) is None


def test_base64_raw_url_encoding_as_go_decodes_it():
    assert golang.raw_url_b64decode(base64.urlsafe_b64encode(b"\xfb\xff{}").decode().rstrip("=")) == b"\xfb\xff{}"
    assert golang.raw_url_b64decode("e\nw") == b"{"  # newlines are skipped
    for text, offset in (("%%%", 0), ("ab=", 2), ("abcde", 4), ("a", 0), ("ab+c", 2)):
        with pytest.raises(ValueError, match=f"^illegal base64 data at input byte {offset}$"):
            golang.raw_url_b64decode(text)


def test_unmarshal_type_errors():
    assert golang.unmarshal_type_error([1], "storage.continueToken") == "json: cannot unmarshal array into Go value of type storage.continueToken"
    assert golang.unmarshal_type_error(True, "T") == "json: cannot unmarshal bool into Go value of type T"


# -- undecodable bodies ---------------------------------------------------------------------------------------------
def test_summaries_of_bodies():
    assert decoding.summarize(b"") == "<empty>"
    assert decoding.summarize(b"{short") == "{short"
    assert decoding.summarize(b"{" + b"x" * 40) == "{" + "x" * 29 + " ..."
    assert decoding.summarize(b"\x00\x01") == "0001"


UNRECOGNIZED = "the object provided is unrecognized (must be of type Kind): couldn't get version/kind; json parse error: W ({w)"


def undecodable(raw: bytes, yaml_body: bool = False) -> decoding.Undecodable:
    with pytest.raises(decoding.Undecodable) as err:
        decoding.decode(raw, yaml_body=yaml_body)
    return err.value


@pytest.mark.parametrize(
    "method, ctype, validation, code, message",
    [
        ("POST", "application/json", "", 400, UNRECOGNIZED),
        ("PUT", "application/json", "Strict", 400, UNRECOGNIZED),
        ("PATCH", "application/json-patch+json", "Warn", 400, "error decoding patch: W"),
        ("PATCH", "application/json-patch+json", "Ignore", 400, "W"),
        ("PATCH", "application/merge-patch+json", "", 400, "error decoding patch: W"),
        ("PATCH", "application/merge-patch+json", "Ignore", 400, "Invalid JSON Patch"),
        ("PATCH", "application/strategic-merge-patch+json", "Strict", 400, "W"),
        ("DELETE", "application/json", "", 500, "couldn't get version/kind; json parse error: W"),
    ],
)
def test_body_errors_by_endpoint(method, ctype, validation, code, message):
    err = decoding.Undecodable("W")
    out = decoding.body_error(err, b"{w", method, ctype, "Kind", validation)
    assert (out.code, out.message, out.reason) == (code, message, "BadRequest" if code == 400 else "")


def test_decoding_refusals_are_worded_as_go_and_go_yaml():
    assert undecodable(b"{x").why == "invalid character 'x' looking for beginning of object key string"
    assert undecodable(b'{"a": NaN}').why == "invalid character 'N' looking for beginning of value"
    assert undecodable(b'{"a": -Infinity}').why == "invalid character 'I' in numeric literal"
    why = undecodable(b"a: [\nb", yaml_body=True).why
    assert why.startswith("yaml: line ") and "\n" not in why
    apply = decoding.body_error(undecodable(b"{x: [}", yaml_body=True), b"{x: [}", "PATCH", "application/apply-patch+yaml", "K", "")
    assert apply.message.startswith("error decoding YAML: error converting YAML to JSON: yaml: line 1: ")
    assert decoding.decode(b'{"k": "caf\xe9"}') == {"k": "caf\ufffd"}, "not UTF-8: U+FFFD, as Go"


# -- continue tokens ------------------------------------------------------------------------------------------------
def test_continue_tokens_round_trip_without_padding():
    for name in ("a", "ab", "abc"):
        token = options.encode_continue(12, "ns", name)
        assert "=" not in token and options.decode_continue(token) == (12, ("ns", name))
        padded = base64.urlsafe_b64encode(json.dumps({"v": "meta.k8s.io/v1", "rv": 12, "ns": "ns", "name": name}).encode()).decode()
        assert options.decode_continue(padded) == (12, ("ns", name)), "tokens of earlier versions"


@pytest.mark.parametrize(
    "data, why",
    [
        ([1], "json: cannot unmarshal array into Go value of type storage.continueToken"),
        ({"v": 1}, "json: cannot unmarshal number into Go struct field continueToken.v of type string"),
        ({"v": "meta.k8s.io/v1", "rv": "5"}, "json: cannot unmarshal string into Go struct field continueToken.rv of type int64"),
        ({"v": "meta.k8s.io/v1", "rv": 2**63}, f"json: cannot unmarshal number {2**63} into Go struct field continueToken.rv of type int64"),
        ({"v": None, "rv": 5, "name": "a"}, "server does not recognize this encoded version "),
        ({"v": "meta.k8s.io/v1", "rv": None, "name": "a"}, "incorrect encoded start resourceVersion (version meta.k8s.io/v1)"),
        ({"v": "meta.k8s.io/v1", "rv": 3, "ns": 4, "name": "a"}, "encoded start key empty (version meta.k8s.io/v1)"),
    ],
)
def test_forged_continue_tokens(data, why):
    token = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
    with pytest.raises(APIError) as err:
        options.decode_continue(token)
    assert (err.value.code, err.value.message) == (400, f"invalid continue token: continue key is not valid: {why}")


# -- metadata.generation --------------------------------------------------------------------------------------------
def test_kinds_that_keep_a_generation():
    registry = build_registry()
    keeping = {(rt.group, rt.kind) for rt in registry.types.values() if not rt.is_crd and tracks_generation(rt)}
    assert keeping == {
        ("", "Pod"),
        ("", "ReplicationController"),
        ("policy", "PodDisruptionBudget"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("apps", "DaemonSet"),
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
    }
    assert all(tracks_generation(rt) for rt in registry.types.values() if rt.is_crd)
    without = (("", "ConfigMap"), ("", "Namespace"), ("", "Node"), ("", "Service"), ("coordination.k8s.io", "Lease"), ("storage.k8s.io", "StorageClass"))
    for group, kind in without:
        assert not tracks_generation(registry.by_kind(group, kind)), kind
