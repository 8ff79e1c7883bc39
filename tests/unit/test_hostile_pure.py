"""Pure pieces of the API server's own rules: body decoding, query parameters and DeleteOptions, ObjectMeta keys,
config keys, field-selector support, and private state files."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from dvp_simulator.api import objectmeta, options
from dvp_simulator.api.core_rules import config_key_errors, micro_time_error
from dvp_simulator.api.decoding import MAX_DEPTH, decode
from dvp_simulator.api.errors import APIError
from dvp_simulator.api.selectors import parse_field_selector, selectable_fields
from dvp_simulator.certs import ensure_pki
from dvp_simulator.store.store import Store


def refused(fn, *args, **kw) -> APIError:
    with pytest.raises(APIError) as err:
        fn(*args, **kw)
    return err.value


@pytest.mark.parametrize("raw", [b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":1e400}', b"[" * 2000 + b"]" * 2000])
def test_json_go_cannot_read_is_400(raw):
    assert refused(decode, raw).code == 400


def test_depth_limit_is_exact():
    ok = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert decode(ok) is not None
    assert "nested deeper" in refused(decode, b"[" + ok + b"]").message


def test_big_integers_become_floats_as_go_decodes_them():
    assert decode(b'{"n": 18446744073709551616}') == {"n": float(2**64)}
    assert decode(b"9223372036854775807") == 2**63 - 1


def test_yaml_timestamps_stay_strings_and_bombs_are_refused():
    assert decode(b"when: 2024-01-02\nt: 2001-12-14t21:59:43.10-05:00\n", yaml_body=True) == {"when": "2024-01-02", "t": "2001-12-14t21:59:43.10-05:00"}
    assert refused(decode, b"a: .nan\n", yaml_body=True).code == 400
    assert refused(decode, b"1: x\n", yaml_body=True).code == 400
    bomb = b"a: &a [x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b]\n"
    assert "aliasing" in refused(decode, bomb, yaml_body=True).message


def test_yaml_bodies_that_are_json_read_as_json_and_flow_yaml_still_reads():
    vm = {"apiVersion": "v", "kind": "VirtualMachine", "metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"cpu": {"cores": 1}, "on": True, "n": None}}
    raw = json.dumps(vm).encode()
    assert decode(raw, yaml_body=True) == vm == decode(raw)
    assert decode(b'  {"a": 1e3, "b": "yes"}', yaml_body=True) == {"a": 1000.0, "b": "yes"}  # as sigs.k8s.io/yaml reads it
    assert decode(b"{a: 1, b: [x, y]}", yaml_body=True) == {"a": 1, "b": ["x", "y"]}  # flow YAML, not JSON
    assert decode(b"[1, two]", yaml_body=True) == [1, "two"]
    assert refused(decode, b'{"a": .nan}', yaml_body=True).code == 400
    assert "nested deeper" in refused(decode, b"[" * 2000 + b"]" * 2000, yaml_body=True).message


def test_write_params():
    p = options.write_params({}, [], "POST", "kubectl/v1.37.1 (linux/amd64)")
    assert (p.manager, p.field_validation, p.dry_run) == ("kubectl", "Warn", False)
    err = refused(options.write_params, {"fieldValidation": "x"}, ["true"], "PUT", "")
    assert err.code == 422 and err.message.startswith('UpdateOptions.meta.k8s.io "" is invalid: [dryRun: Unsupported value: []string{"true"}')
    assert refused(options.write_params, {}, [], "PATCH", "kubectl", apply=True).details["causes"][0]["field"] == "fieldManager"
    assert refused(options.write_params, {"fieldManager": "a\x00b"}, [], "POST", "").code == 422


def test_list_params_and_continue_tokens():
    token = options.encode_continue(42, "ns", "b")
    p = options.list_params({"limit": "-1", "continue": token}, watch=False)
    assert (p.limit, p.continue_rv, p.continue_after) == (0, 42, ("ns", "b"))
    for forged in ("!!", base64.urlsafe_b64encode(b'{"v":"meta.k8s.io/v1","rv":true,"ns":"","name":"a"}').decode(), base64.b64encode(b'"s"').decode()):
        err = refused(options.list_params, {"continue": forged}, watch=False)
        assert err.code == 400 and "continue key is not valid" in err.message
    assert refused(options.list_params, {"continue": token, "resourceVersion": "5"}, watch=False).code == 400
    assert refused(options.list_params, {"resourceVersionMatch": "NotOlderThan", "resourceVersion": "1"}, watch=True).code == 422
    assert refused(options.list_params, {"timeoutSeconds": "1.5"}, watch=True).code == 400


def test_delete_options_body_wins_over_query():
    assert options.delete_options({"propagationPolicy": "Orphan"}, {"dryRun": "All"}, ["All"])["dryRun"] == []
    assert options.delete_options(None, {"propagationPolicy": "Foreground", "gracePeriodSeconds": "0"}, ["All"]) == {
        "dryRun": ["All"],
        "gracePeriodSeconds": 0,
        "propagationPolicy": "Foreground",
    }
    assert refused(options.delete_options, {"gracePeriodSeconds": 1.5}, {}, []).code == 400
    assert refused(options.delete_options, {"preconditions": {"resourceVersion": 3}}, {}, []).code == 400


def test_qualified_names_as_apimachinery():
    assert objectmeta.qualified_name_errors("example.com/My_name-1") == ()
    assert objectmeta.qualified_name_errors("a/b/c")[0].startswith("a qualified name must consist of")
    assert objectmeta.qualified_name_errors("/x") == ("prefix part must be non-empty",)
    assert objectmeta.qualified_name_errors("x/") == ("name part must be non-empty", objectmeta.qualified_name_errors("x/")[1])
    assert "name part must be no more than 63 characters" in objectmeta.qualified_name_errors("n" * 64)
    assert objectmeta.label_value_errors("") == () and objectmeta.label_value_errors("-x")
    causes = objectmeta.validate({"labels": {"A.B/x": "v"}, "annotations": {"A.B/x": "v"}})
    assert [c["field"] for c in causes] == ["metadata.labels"]  # annotation keys are checked lowercased


def test_metadata_decode_errors_name_the_go_field():
    assert objectmeta.decode_errors({"name": "x", "labels": {"a": "b"}}) is None
    assert "ObjectMeta.metadata.generation of type int64" in objectmeta.decode_errors({"generation": True})
    assert "ObjectMeta.metadata.finalizers of type string" in objectmeta.decode_errors({"finalizers": [1]})


def test_config_keys():
    assert config_key_errors("tls.crt") == [] and config_key_errors(".dockerconfigjson") == []
    assert config_key_errors("..x") == ["must not start with '..'"]
    assert config_key_errors("a b")


@pytest.mark.parametrize("stamp", ["2026-11-24T00:00:00.000000Z", "2024-02-29T23:59:59.999999+03:00", "2026-12-31T00:00:00.123456-24:00"])
def test_micro_times_go_parses(stamp):
    assert micro_time_error(stamp) is None


@pytest.mark.parametrize(
    ("stamp", "why"),
    [
        ("yesterday", 'cannot parse "yesterday" as "2006"'),
        ("2026-11-24T00:00:00Z", 'cannot parse "Z" as ".000000"'),  # Time's layout, not MicroTime's: no fraction
        ("2026-11-24T00:00:00.123Z", 'cannot parse ".123Z" as ".000000"'),
        ("2026-11-24T00:00:00.1234567Z", 'cannot parse "7Z" as "Z07:00"'),
        ("2026-11-24 00:00:00.000000Z", 'cannot parse " 00:00:00.000000Z" as "T"'),
        ("2026-11-24T00:00:00.000000", 'cannot parse "" as "Z07:00"'),
        ("2026-11-24T00:00:00.000000Z ", 'extra text: " "'),
        ("2026-13-01T00:00:00.000000Z", "month out of range"),
        ("2026-00-01T00:00:00.000000Z", "month out of range"),
        ("2026-11-32T00:00:00.000000Z", "day out of range"),
        ("2026-02-29T00:00:00.000000Z", "day out of range"),
        ("2026-04-31T00:00:00.000000Z", "day out of range"),
        ("2026-11-24T24:00:00.000000Z", "hour out of range"),
        ("2026-11-24T00:60:00.000000Z", "minute out of range"),
        ("2026-11-24T00:00:60.000000Z", "second out of range"),
        ("2026-11-24T00:00:00.000000+25:00", "time zone offset hour out of range"),
    ],
)
def test_micro_times_go_refuses_say_why_as_go_does(stamp, why):
    message = micro_time_error(stamp)
    assert message is not None and message.endswith(why), message
    assert message.startswith(f'parsing time "{stamp}"')


def test_field_selectors_only_on_fields_the_kind_offers():
    pods = selectable_fields("", "Pod", None)
    assert parse_field_selector("spec.nodeName=n1", pods)({"spec": {"nodeName": "n1"}})
    assert "field label not supported: spec.x" in refused(parse_field_selector, "spec.x=1", pods).message
    crd = selectable_fields("g", "K", {"selectableFields": [{"jsonPath": ".spec.color"}]})
    assert parse_field_selector("spec.color=red,metadata.name=a", crd)({"metadata": {"name": "a"}, "spec": {"color": "red"}})
    events = selectable_fields("", "Event", None)
    assert parse_field_selector("source=kubelet", events)({"source": {"component": "kubelet"}})


def test_state_files_are_private_at_creation_and_tightened_on_start(tmp_path):
    db = tmp_path / "store.sqlite"
    store = Store(db)
    store.put("/secrets", {"metadata": {"name": "s", "namespace": "n"}, "data": {"k": "dg=="}}, "ADDED")
    store.close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for f in tmp_path.glob("store.sqlite*"):
        f.chmod(0o644)
    Store(db).close()
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in tmp_path.glob("store.sqlite*"))
    pki = ensure_pki(tmp_path)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in pki.values())
    pki["token"].chmod(0o644)
    ensure_pki(tmp_path)
    assert stat.S_IMODE(pki["token"].stat().st_mode) == 0o600 and stat.S_IMODE((tmp_path / "pki").stat().st_mode) == 0o700


def test_warning_header_text_never_carries_a_control_character() -> None:
    """An unknown field named by a hostile body ends up in a Warning header: quoted as Go's strconv.Quote does."""
    from dvp_simulator.api.server import warning_text

    assert warning_text('unknown field "\x1f"') == '"unknown field \\"\\x1f\\""'
    assert warning_text("a\r\nb\u2028c\x7f") == '"a\\r\\nb\\u2028c\\x7f"'
    assert warning_text("ok — fine \\") == '"ok — fine \\\\"'
    assert all(ch.isprintable() for ch in warning_text("".join(chr(c) for c in range(0x20))))


def test_a_client_fault_is_logged_in_one_line_without_the_credential_the_parser_quotes():
    """aiohttp's parser may quote the header line it refused: an Authorization value never reaches the log."""
    import logging
    import sys

    from aiohttp.http_exceptions import BadHttpMessage

    from dvp_simulator.api import server

    record = logging.LogRecord("aiohttp.server", logging.ERROR, "", 0, "Error handling request from %s", ("127.0.0.1",), None)
    try:
        raise BadHttpMessage("Invalid header value char:\n  b'Authorization: Bearer s3cr3t-token\\x01'")
    except BadHttpMessage:
        record.exc_info = sys.exc_info()
    assert server._ClientFaultsInOneLine().filter(record)
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "s3cr3t" not in record.getMessage() and "Bearer <redacted>" in record.getMessage(), record.getMessage()
