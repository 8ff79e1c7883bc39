"""`virsh` as a virt-launcher's compute container runs it: read-only commands answered by the node's own libvirt
test-driver connection (hypervisor.py), so `kubectl exec virt-launcher-… -- virsh dumpxml …` shows the domain the
VM controller really defined and started there, in libvirt's own XML.

A virt-launcher's libvirt holds the one domain of its VM, so only the domains named in `visible` exist here (the
node's connection holds every VM's on that node). The commands an admin reaches for when a VM misbehaves: `list`
(`--all`, `--name`, `--uuid`, `--inactive`), `domstate`, `dominfo`, `dumpxml`, `domuuid`, `domid`, `domname`, `uri`,
`version`. The output follows virsh's formats (vshTable's columns, dominfo's 16-character labels, the blank line after
each command's output). Commands that would change the domain are refused: the platform, not an exec, owns its power
state (a VirtualMachineOperation does that). Without a command, virsh reads commands from standard input, one per line,
as virsh does when its input is not a terminal.

Contract: `run(conn, visible, argv, stdin)` -> (exit code, stdout, stderr); never raises for bad input (a libvirt
error is virsh's `error: …` on stderr with exit code 1)."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from typing import Any

# virsh's names of libvirt's domain states (tools/virsh-domain-monitor.c virshDomainStateToString)
STATE_NAMES = {0: "no state", 1: "running", 2: "idle", 3: "paused", 4: "in shutdown", 5: "shut off", 6: "crashed", 7: "pmsuspended"}
CHANGING = {"start", "shutdown", "destroy", "reboot", "reset", "suspend", "resume", "undefine", "define", "create", "edit", "migrate", "setmem", "setvcpus"}
VERSION = "virsh (dvp-sim) on the libvirt test driver"
URI = "qemu+unix:///session?socket=/var/run/libvirt/virtqemud-sock"  # KubeVirt's virt-launcher libvirt

Result = tuple[int, bytes, bytes]


class Failed(Exception):
    """A command's error, printed as virsh prints it."""


def command_of(argv: Sequence[str]) -> list[str]:
    """virsh's command and its arguments: argv without the program and its options (-r, -q, -c URI)."""
    args = list(argv[1:])
    while args and args[0] in ("-r", "--readonly", "-q", "--quiet", "-c", "--connect"):
        args = args[2:] if args[0] in ("-c", "--connect") else args[1:]
    return args


def run(conn: Any, visible: Sequence[str], argv: Sequence[str], stdin: bytes = b"") -> Result:
    """Run `virsh argv…` (argv[0] is "virsh") against `conn`, seeing only the domains named in `visible`."""
    args = command_of(argv)
    if not args:  # commands from standard input, as virsh does when it is not on a terminal
        out, err, code = b"", b"", 0
        for line in stdin.decode(errors="replace").splitlines():
            try:
                words = shlex.split(line, comments=True) if line.strip() else []
            except ValueError as exc:  # an unclosed quote: virsh's parser error, and on to the next line
                code, err = 1, err + f"error: {exc}\n".encode()
                continue
            if not words:
                continue
            if words[0] in ("quit", "exit"):
                break
            code, o, e = _one(conn, visible, words)
            out, err = out + o, err + e
        return code, out, err
    return _one(conn, visible, args)


def _one(conn: Any, visible: Sequence[str], words: list[str]) -> Result:
    command, rest = words[0], words[1:]
    handler = COMMANDS.get(command)
    try:
        if handler is None:
            if command in CHANGING:
                raise Failed(f"operation forbidden: '{command}' is the platform's to do in a virt-launcher (use a VirtualMachineOperation)")
            raise Failed(f"unknown command: '{command}'")
        return 0, handler(conn, visible, rest).encode(), b""
    except Failed as exc:
        return 1, b"", f"error: {exc}\n".encode()
    except Exception as exc:  # a libvirt error: virsh prints its message
        return 1, b"", f"error: {_libvirt_message(exc)}\n".encode()


def _libvirt_message(exc: Exception) -> str:
    get = getattr(exc, "get_error_message", None)
    return (get() if callable(get) else None) or str(exc)


def _domains(conn: Any, visible: Sequence[str]) -> list[Any]:
    wanted = set(visible)
    return [d for d in conn.listAllDomains() if d.name() in wanted]


def _domain(conn: Any, visible: Sequence[str], args: list[str]) -> Any:
    """The domain an argument names: by name, UUID or ID, as virsh looks it up; `error: failed to get domain 'x'`."""
    names = [a for a in args if not a.startswith("-")]
    if not names:
        raise Failed("command requires <domain> option")
    key = names[0]
    for dom in _domains(conn, visible):
        if key in (dom.name(), dom.UUIDString()) or (dom.ID() >= 0 and key == str(dom.ID())):
            return dom
    raise Failed(f"failed to get domain '{key}'")


def _state(dom: Any) -> str:
    return STATE_NAMES.get(dom.state()[0], "no state")


def _table(rows: list[list[str]]) -> str:
    """vshTable: a space, each cell padded to its column's width and two spaces; a dashed line under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        return "".join(f" {cell:<{w}}  " for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"

    return line(rows[0]) + "-" * sum(w + 3 for w in widths) + "\n" + "".join(line(r) for r in rows[1:]) + "\n"


def cmd_list(conn: Any, visible: Sequence[str], args: list[str]) -> str:
    unknown = [a for a in args if a not in ("--all", "--inactive", "--name", "--uuid", "--state-running", "--state-shutoff")]
    if unknown:
        raise Failed(f"command 'list' doesn't support option {unknown[0]}")
    doms = sorted(_domains(conn, visible), key=lambda d: (not d.isActive(), d.ID() if d.isActive() else 0, d.name()))
    if "--inactive" in args:
        doms = [d for d in doms if not d.isActive()]
    elif "--all" not in args and "--state-shutoff" not in args:
        doms = [d for d in doms if d.isActive()]
    if "--state-running" in args:
        doms = [d for d in doms if d.state()[0] == 1]
    if "--state-shutoff" in args:
        doms = [d for d in doms if d.state()[0] == 5]
    if "--name" in args or "--uuid" in args:
        return "".join(f"{d.name() if '--name' in args else d.UUIDString()}\n" for d in doms) + "\n"
    rows = [["Id", "Name", "State"]] + [[str(d.ID()) if d.isActive() else "-", d.name(), _state(d)] for d in doms]
    return _table(rows)


def cmd_domstate(conn: Any, visible: Sequence[str], args: list[str]) -> str:
    return _state(_domain(conn, visible, args)) + "\n\n"


def cmd_dumpxml(conn: Any, visible: Sequence[str], args: list[str]) -> str:
    return _domain(conn, visible, args).XMLDesc(0)


def cmd_dominfo(conn: Any, visible: Sequence[str], args: list[str]) -> str:
    dom = _domain(conn, visible, args)
    state, max_kib, used_kib, vcpus, cpu_ns = dom.info()
    fields = [
        ("Id", str(dom.ID()) if dom.isActive() else "-"),
        ("Name", dom.name()),
        ("UUID", dom.UUIDString()),
        ("OS Type", dom.OSType()),
        ("State", STATE_NAMES.get(state, "no state")),
        ("CPU(s)", str(vcpus)),
        ("CPU time", f"{cpu_ns / 1e9:.1f}s"),
        ("Max memory", f"{max_kib} KiB"),
        ("Used memory", f"{used_kib} KiB"),
        ("Persistent", "yes" if dom.isPersistent() else "no"),
        ("Autostart", "enable" if dom.autostart() else "disable"),
        ("Managed save", "yes" if dom.hasManagedSaveImage() else "no"),
        ("Security model", "none"),
        ("Security DOI", "0"),
    ]
    return "".join(f"{label + ':':<16}{value}\n" for label, value in fields) + "\n"


def cmd_domuuid(conn: Any, visible: Sequence[str], args: list[str]) -> str:
    return _domain(conn, visible, args).UUIDString() + "\n\n"


def cmd_domname(conn: Any, visible: Sequence[str], args: list[str]) -> str:
    return _domain(conn, visible, args).name() + "\n\n"


def cmd_domid(conn: Any, visible: Sequence[str], args: list[str]) -> str:
    dom = _domain(conn, visible, args)
    return (str(dom.ID()) if dom.isActive() else "-") + "\n\n"


def cmd_uri(conn: Any, visible: Sequence[str], args: list[str]) -> str:
    return URI + "\n\n"


def cmd_version(conn: Any, visible: Sequence[str], args: list[str]) -> str:
    major, rest = divmod(conn.getLibVersion(), 1_000_000)
    return f"Compiled against library: libvirt {major}.{rest // 1000}.{rest % 1000}\n{VERSION}\n\n"


COMMANDS: dict[str, Callable[[Any, Sequence[str], list[str]], str]] = {
    "list": cmd_list,
    "domstate": cmd_domstate,
    "dumpxml": cmd_dumpxml,
    "dominfo": cmd_dominfo,
    "domuuid": cmd_domuuid,
    "domname": cmd_domname,
    "domid": cmd_domid,
    "uri": cmd_uri,
    "version": cmd_version,
}


BANNER = "Welcome to virsh, the virtualization interactive terminal.\n\nType:  'help' for help with commands\n       'quit' to quit\n\n"
PROMPT = "virsh # "


class Shell:
    """Interactive virsh on a terminal (`kubectl exec -it … -- virsh`): the banner and prompt, and the terminal's line
    discipline the container's pty would give — echo, backspace, Ctrl-C drops the line, Ctrl-D on an empty line or
    `quit` / `exit` ends it, escape sequences (arrow keys) ignored. Output lines end with CR LF, as on a terminal.

    `start()` is the first output; `feed(data)` takes the client's keystrokes and gives (output, ended)."""

    def __init__(self, conn: Any, visible: Sequence[str]):
        self.conn, self.visible = conn, list(visible)
        self.line = ""
        self.escape = ""  # an escape sequence being skipped
        self.ended = False

    def start(self) -> bytes:
        return _crlf(BANNER + PROMPT)

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = []
        for ch in data.decode(errors="replace"):
            if self.ended:
                break
            if self.escape:
                self.escape += ch
                if len(self.escape) > 1 and (ch.isalpha() or ch == "~" or len(self.escape) > 8):
                    self.escape = ""
                continue
            if ch == "\x1b":
                self.escape = ch
            elif ch in ("\r", "\n"):
                out.append("\n" + self._run_line())
            elif ch in ("\x7f", "\b"):
                if self.line:
                    self.line = self.line[:-1]
                    out.append("\b \b")
            elif ch == "\x03":
                self.line = ""
                out.append("^C\n" + PROMPT)
            elif ch == "\x04":
                if not self.line:
                    self.ended = True
                    out.append("\n")
            elif ch >= " ":
                self.line += ch
                out.append(ch)
        return _crlf("".join(out)), self.ended

    def _run_line(self) -> str:
        line, self.line = self.line, ""
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            return f"error: {exc}\n" + PROMPT
        if not words:
            return PROMPT
        if words[0] in ("quit", "exit"):
            self.ended = True
            return ""
        _, out, err = _one(self.conn, self.visible, words)
        return (out + err).decode(errors="replace") + PROMPT


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
