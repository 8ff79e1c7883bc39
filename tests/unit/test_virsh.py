"""nodes/virsh.py over a real libvirt test-driver connection (a node's hypervisor): the commands' output in virsh's
formats, only the visible domains, errors as virsh prints them with exit code 1, commands read from stdin."""

from __future__ import annotations

import pytest

from dvp_simulator.nodes import virsh
from dvp_simulator.nodes.hypervisor import Hypervisor
from dvp_simulator.nodes.topology import parse

DOMAIN = "<domain type='test'><name>{name}</name><memory unit='MiB'>512</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>"


@pytest.fixture
def conn(tmp_path):
    spec = parse({"nodes": [{"name": "n", "cpu": {"vendor": "Intel", "model": "Haswell-noTSX", "cores": 4}, "memory": "8Gi"}]}).nodes[0]
    hv = Hypervisor(spec, tmp_path)
    for name in ("ns_web", "ns_db", "ns_off"):
        hv.define(DOMAIN.format(name=name))
    hv.start("ns_web")
    hv.start("ns_db")
    yield hv.connection
    hv.close()


def out(result):
    code, stdout, stderr = result
    assert (code, stderr) == (0, b""), stderr
    return stdout.decode()


def test_list_is_vshtable_of_the_visible_running_domains(conn):
    text = out(virsh.run(conn, ["ns_web", "ns_off"], ["virsh", "list"]))
    lines = text.split("\n")
    assert lines[0] == " Id   Name     State"
    assert lines[1] == "-" * ((2 + 3) + (len("ns_web") + 3) + (len("running") + 3))
    assert lines[2].split() == [str(conn.lookupByName("ns_web").ID()), "ns_web", "running"]
    assert lines[3:] == ["", ""], "one blank line after the table, as virsh"
    everything = out(virsh.run(conn, ["ns_web", "ns_off"], ["virsh", "-r", "list", "--all"]))
    assert [line.split()[1:] for line in everything.splitlines()[2:] if line] == [["ns_web", "running"], ["ns_off", "shut", "off"]]
    assert everything.splitlines()[3].split()[0] == "-", "an inactive domain has no id"
    assert out(virsh.run(conn, ["ns_web", "ns_off"], ["virsh", "list", "--inactive", "--name"])) == "ns_off\n\n"
    assert "ns_db" not in out(virsh.run(conn, ["ns_web"], ["virsh", "list", "--all"])), "another VM's domain is not visible"


def test_domain_commands_by_name_uuid_and_id(conn):
    dom = conn.lookupByName("ns_web")
    for key in ("ns_web", dom.UUIDString(), str(dom.ID())):
        assert out(virsh.run(conn, ["ns_web"], ["virsh", "domstate", key])) == "running\n\n"
    assert out(virsh.run(conn, ["ns_web"], ["virsh", "domuuid", "ns_web"])) == dom.UUIDString() + "\n\n"
    assert out(virsh.run(conn, ["ns_web"], ["virsh", "dumpxml", "ns_web"])) == dom.XMLDesc(0)
    info = out(virsh.run(conn, ["ns_web"], ["virsh", "dominfo", "ns_web"])).splitlines()
    assert info[0] == f"Id:             {dom.ID()}" and "CPU(s):         2" in info and "Max memory:     524288 KiB" in info
    assert out(virsh.run(conn, ["ns_off"], ["virsh", "domid", "ns_off"])) == "-\n\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["virsh", "domstate", "ns_db"], "error: failed to get domain 'ns_db'\n"),
        (["virsh", "domstate"], "error: command requires <domain> option\n"),
        (["virsh", "list", "--bogus"], "error: command 'list' doesn't support option --bogus\n"),
        (["virsh", "frob"], "error: unknown command: 'frob'\n"),
    ],
)
def test_errors_are_virsh_errors_with_exit_code_1(conn, argv, message):
    assert virsh.run(conn, ["ns_web"], argv) == (1, b"", message.encode())


def test_changing_commands_are_refused_and_change_nothing(conn):
    code, stdout, err = virsh.run(conn, ["ns_web"], ["virsh", "destroy", "ns_web"])
    assert (code, stdout) == (1, b"") and b"VirtualMachineOperation" in err
    assert conn.lookupByName("ns_web").isActive()


def test_commands_from_stdin_until_quit(conn):
    script = b"domstate ns_web\n\n# comment\ndomname ns_web\nquit\ndomstate ns_web\n"
    assert virsh.run(conn, ["ns_web"], ["virsh"], script) == (0, b"running\n\nns_web\n\n", b"")
    assert virsh.run(conn, ["ns_web"], ["virsh"]) == (0, b"", b""), "no command and no input: nothing to do"
    code, stdout, stderr = virsh.run(conn, ["ns_web"], ["virsh"], b"domstate nobody\ndomstate ns_web\n")
    assert (code, stdout) == (0, b"running\n\n") and b"failed to get domain 'nobody'" in stderr, "the last command's code, as virsh"


def test_the_interactive_shell_is_a_terminal(conn):
    shell = virsh.Shell(conn, ["ns_web"])
    assert shell.start() == (virsh.BANNER + virsh.PROMPT).replace("\n", "\r\n").encode()
    out, ended = shell.feed(b"domstatx\x7fe ns_web\r")
    assert out == b"domstatx\b \be ns_web\r\nrunning\r\n\r\nvirsh # " and not ended, "echo, backspace, the command's output, the prompt"
    out, ended = shell.feed(b"dom\x03")
    assert (out, ended) == (b"dom^C\r\nvirsh # ", False), "Ctrl-C drops the line"
    out, ended = shell.feed(b"\x1b[Adomname ns_web\x1b[D\r")
    assert (out, ended) == (b"domname ns_web\r\nns_web\r\n\r\nvirsh # ", False), "arrow keys are not typed"
    out, ended = shell.feed(b"domstate nobody\r")
    assert b"error: failed to get domain 'nobody'\r\nvirsh # " in out and not ended
    assert shell.feed(b"quit\r") == (b"quit\r\n", True)
    assert virsh.Shell(conn, ["ns_web"]).feed(b"\x04") == (b"\r\n", True), "Ctrl-D on an empty line ends it"
    assert virsh.command_of(["virsh", "-r", "-c", "qemu:///system", "list", "--all"]) == ["list", "--all"]


def test_a_malformed_line_on_stdin_is_an_error_not_a_crash(conn):
    code, stdout, stderr = virsh.run(conn, ["ns_web"], ["virsh"], b"domstate 'ns_web\ndomstate ns_web\n")
    assert (code, stdout) == (0, b"running\n\n") and b"error: No closing quotation" in stderr
    shell = virsh.Shell(conn, ["ns_web"])
    assert shell.feed(b"domstate 'x\r") == (b"domstate 'x\r\nerror: No closing quotation\r\nvirsh # ", False)
