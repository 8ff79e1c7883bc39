"""The SPDY/3 framing (api/spdy.py) and the kubelet's side of a port-forward session (api/pod_portforward.Forwarding),
pure: a client made here writes what client-go's port-forward writes (an error and a data stream per connection,
headers streamtype / port / requestid, zlib with SPDY/3's dictionary), and reads the answers back with a Session of its
own. That the dictionary is SPDY/3's own is shown by kubectl itself (tests/integration/test_kubectl_port_forward.py):
zlib checks its Adler-32 on both sides."""

from __future__ import annotations

import random
import struct
import zlib

import pytest

from dvp_simulator.api import spdy
from dvp_simulator.api.pod_portforward import STREAM_CREATION_TIMEOUT, Forwarding


class Client:
    """client-go's side: its own compression context, and a Session to read the server's frames."""

    def __init__(self) -> None:
        self.deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, spdy.DICTIONARY)
        self.reader = spdy.Session()

    def block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers)) + b"".join(
            struct.pack(">I", len(t)) + t.encode() for name, value in headers.items() for t in (name, value)
        )
        return self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_stream(self, stream: int, headers: dict[str, str]) -> bytes:
        body = struct.pack(">IIH", stream, 0, 0) + self.block(headers)
        return struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, len(body)) + body

    def pair(self, error: int, data: int, port: str = "22", request: str | None = "0") -> bytes:
        extra = {} if request is None else {"requestid": request}
        return self.syn_stream(error, {"streamtype": "error", "port": port, **extra}) + self.syn_stream(data, {"streamtype": "data", "port": port, **extra})


def dial(port: int) -> str:
    return f"refused {port}"


def frames(client: Client, out: bytes) -> list[tuple[int, int, int, bytes]]:
    """(kind, stream, flags, data) of the server's frames."""
    return [(f.kind, f.stream, f.flags, f.data) for f in client.reader.feed(out)]


def test_a_pair_of_streams_gets_replies_then_the_refusal_and_both_closed():
    client, fwd = Client(), Forwarding(dial)
    out, done = fwd.receive(client.pair(1, 3, "8080"))
    assert not done
    assert frames(client, out) == [
        (spdy.SYN_REPLY, 1, 0, b""),
        (spdy.SYN_REPLY, 3, 0, b""),
        (spdy.DATA, 1, 0, b"refused 8080"),
        (spdy.DATA, 1, spdy.FLAG_FIN, b""),
        (spdy.DATA, 3, spdy.FLAG_FIN, b""),
    ]
    # a second connection on the same session: the shared compression contexts stay in step across blocks
    out = fwd.receive(client.pair(5, 7, "9090", request="1"))[0]
    assert [f[:2] for f in frames(client, out)] == [(spdy.SYN_REPLY, 5), (spdy.SYN_REPLY, 7), (spdy.DATA, 5), (spdy.DATA, 5), (spdy.DATA, 7)]
    assert fwd.pairs == {}


def test_frames_cut_anywhere_read_the_same():
    client, whole = Client(), Forwarding(dial)
    stream = client.pair(1, 3) + struct.pack(">HHII", 0x8003, spdy.PING, 4, 7)
    expected = whole.receive(stream)[0]
    for cut in range(1, len(stream)):
        fwd = Forwarding(dial)
        first = fwd.receive(stream[:cut])[0]
        second = fwd.receive(stream[cut:])[0]
        assert Client().reader.feed(first + second) == Client().reader.feed(expected), cut


@pytest.mark.parametrize(
    "headers",
    [
        {"streamtype": "error"},  # no port
        {"streamtype": "error", "port": "0"},
        {"streamtype": "error", "port": "65536"},
        {"streamtype": "error", "port": "ssh"},
        {"streamtype": "stdin", "port": "22"},
        {"port": "22"},
    ],
)
def test_streams_the_kubelet_refuses_are_reset(headers):
    client, fwd = Client(), Forwarding(dial)
    out, done = fwd.receive(client.syn_stream(1, headers))
    assert not done
    assert [(f.kind, f.stream, f.value) for f in client.reader.feed(out)] == [(spdy.RST_STREAM, 1, spdy.CANCEL)]
    assert fwd.pairs == {}


def test_a_stream_type_given_twice_gets_the_kubelets_message_on_the_error_stream():
    client, fwd = Client(), Forwarding(dial)
    first = fwd.receive(client.syn_stream(1, {"streamtype": "error", "port": "22", "requestid": "4"}))[0]
    second = fwd.receive(client.syn_stream(3, {"streamtype": "error", "port": "22", "requestid": "4"}))[0]
    read = client.reader.feed(first + second)
    assert read[-1].kind == spdy.DATA and read[-1].stream == 1
    assert read[-1].data == b"error processing stream for request 4: error stream already assigned"


def test_an_old_client_without_request_ids_pairs_a_data_stream_with_the_error_stream_before_it():
    client, fwd = Client(), Forwarding(dial)
    out = fwd.receive(client.pair(5, 7, request=None))[0]
    assert (spdy.DATA, 5, 0, b"refused 22") in frames(client, out)


def test_pings_are_answered_data_to_nowhere_is_dropped_and_goaway_ends_the_session():
    client, fwd = Client(), Forwarding(dial)
    out, done = fwd.receive(struct.pack(">HHII", 0x8003, spdy.PING, 4, 41))
    assert (frames(client, out), done) == ([(spdy.PING, 0, 0, b"")], False)
    assert client.reader.feed(spdy.ping(41))[0].value == 41
    assert fwd.receive(spdy.data(3, b"GET / HTTP/1.1\r\n\r\n")) == (b"", False)
    assert fwd.receive(struct.pack(">HHI", 0x8003, spdy.SETTINGS, 4) + struct.pack(">I", 0)) == (b"", False)
    assert fwd.receive(spdy.goaway(0, 0)) == (b"", True)


def test_a_stream_whose_pair_never_comes_times_out_and_a_reset_one_is_forgotten():
    now = [100.0]
    client, fwd = Client(), Forwarding(dial, clock=lambda: now[0])
    fwd.receive(client.syn_stream(1, {"streamtype": "error", "port": "22", "requestid": "0"}))
    fwd.receive(client.syn_stream(5, {"streamtype": "data", "port": "22", "requestid": "1"}))
    assert fwd.next_deadline() == 100.0 + STREAM_CREATION_TIMEOUT
    assert fwd.expire(now[0] + 1) == b""
    fwd.receive(spdy.rst_stream(5, spdy.CANCEL))
    assert list(fwd.pairs) == ["0"]
    out = fwd.expire(now[0] + STREAM_CREATION_TIMEOUT)
    assert [(f.stream, f.flags, f.data) for f in Client().reader.feed(out)] == [
        (1, 0, b"(request=0) timed out waiting for streams"),
        (1, spdy.FLAG_FIN, b""),
    ]
    assert fwd.pairs == {} and fwd.next_deadline() is None


def _ends_with_goaway(out: bytes, done: bool) -> bool:
    return done and Client().reader.feed(out)[-1].kind == spdy.GOAWAY


def test_hostile_framing_ends_the_session_with_a_protocol_error():
    client = Client()
    other_version = struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1"
    assert _ends_with_goaway(*Forwarding(dial).receive(other_version))
    too_long = struct.pack(">II", 1, spdy.MAX_FRAME + 1)
    assert _ends_with_goaway(*Forwarding(dial).receive(too_long)), "refused on its header, before its bytes come"
    not_zlib = struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, 14) + struct.pack(">IIH", 1, 0, 0) + b"junk"
    assert _ends_with_goaway(*Forwarding(dial).receive(not_zlib))
    bomb = client.syn_stream(1, {"x": "a" * (spdy.MAX_HEADERS * 4)})
    assert len(bomb) < 2048 and _ends_with_goaway(*Forwarding(dial).receive(bomb))
    lying = Client()
    raw = struct.pack(">I", 1000) + struct.pack(">I", 4) + b"port"  # 1,000 pairs announced, one name given
    body = struct.pack(">IIH", 1, 0, 0) + lying.deflate.compress(raw) + lying.deflate.flush(zlib.Z_SYNC_FLUSH)
    assert _ends_with_goaway(*Forwarding(dial).receive(struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, len(body)) + body))
    zero = Client().syn_stream(0, {"streamtype": "error", "port": "22"})
    assert _ends_with_goaway(*Forwarding(dial).receive(zero))
    short_ping = struct.pack(">HHI", 0x8003, spdy.PING, 2) + b"\0\1"
    assert _ends_with_goaway(*Forwarding(dial).receive(short_ping))


def test_random_bytes_never_raise():
    rng = random.Random(12)
    for attempt in range(3000):
        fwd = Forwarding(dial)
        prefix = Client().pair(1, 3) if rng.random() < 0.3 else b""
        noise = bytes(rng.getrandbits(8) for byte in range(rng.randint(0, 64)))
        if rng.random() < 0.5:  # a plausible control-frame header over random contents
            noise = struct.pack(">HHI", 0x8003, rng.choice([1, 2, 3, 4, 6, 7, 8, 9, 10]), len(noise)) + noise
        out, done = fwd.receive(prefix + noise)
        assert isinstance(out, bytes) and isinstance(done, bool), attempt
