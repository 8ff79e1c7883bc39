"""Error texts of Go's standard library, for the API messages that quote them: kube-apiserver wraps the words of
encoding/json and encoding/base64 into its own (a body that is not JSON, a forged continue token). Each function
follows the Go code path that produces the text (go/src/encoding/json/scanner.go, go/src/encoding/base64/base64.go),
so a client sees what a real cluster would tell it, not what Python's parsers say."""

from __future__ import annotations

import base64
import binascii
from typing import Any

_SPACE = b" \t\r\n"
_DIGITS = b"0123456789"
_HEX = b"0123456789abcdefABCDEF"
_B64_URL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def quote(text: str) -> str:
    """strconv.Quote: printable characters as they are, \\a \\b \\f \\n \\r \\t \\v, other control characters as \\xNN,
    other unprintable ones as \\uNNNN or \\UNNNNNNNN."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", '"': '\\"', "\\": "\\\\"}
    out = []
    for ch in text:
        code = ord(ch)
        if ch in named:
            out.append(named[ch])
        elif ch.isprintable() and (ch == " " or not ch.isspace()):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _quote_char(byte: int) -> str:
    """encoding/json's quoteChar: the offending byte (as the rune of the same number) in single quotes."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    return "'" + quote(chr(byte))[1:-1] + "'"


class _Scanner:
    """The state machine of encoding/json's scanner, reduced to finding the first syntax error."""

    def __init__(self) -> None:
        self.stack: list[str] = []  # "key" (expecting an object key), "value" (an object value), "array"
        self.state = self.begin_value
        self.end_top = False
        self.error: str | None = None

    def fail(self, byte: int, context: str) -> None:
        self.error = f"invalid character {_quote_char(byte)} {context}"

    def step(self, byte: int) -> None:
        self.state(byte)

    # values
    def begin_value_or_empty(self, b: int) -> None:
        if b in _SPACE:
            return
        if b == ord("]"):
            self.end_value(b)
            return
        self.begin_value(b)

    def begin_value(self, b: int) -> None:
        if b in _SPACE:
            return
        starts = {ord("{"): ("key", self.begin_string_or_empty), ord("["): ("array", self.begin_value_or_empty)}
        if b in starts:
            kind, state = starts[b]
            self.stack.append(kind)
            self.state = state
            return
        simple = {ord('"'): self.in_string, ord("-"): self.neg, ord("0"): self.zero, ord("t"): self.literal("true", 1)}
        simple |= {ord("f"): self.literal("false", 1), ord("n"): self.literal("null", 1)}
        if b in simple:
            self.state = simple[b]
        elif ord("1") <= b <= ord("9"):
            self.state = self.one
        else:
            self.fail(b, "looking for beginning of value")

    def begin_string_or_empty(self, b: int) -> None:
        if b in _SPACE:
            return
        if b == ord("}"):
            self.stack[-1] = "value"
            self.end_value(b)
            return
        self.begin_string(b)

    def begin_string(self, b: int) -> None:
        if b in _SPACE:
            return
        if b == ord('"'):
            self.state = self.in_string
            return
        self.fail(b, "looking for beginning of object key string")

    def end_value(self, b: int) -> None:
        if not self.stack:
            self.state = self.end_top_state
            self.end_top = True
            self.end_top_state(b)
            return
        if b in _SPACE:
            self.state = self.end_value
            return
        top = self.stack[-1]
        if top == "key":
            if b == ord(":"):
                self.stack[-1] = "value"
                self.state = self.begin_value
                return
            self.fail(b, "after object key")
        elif top == "value":
            if b == ord(","):
                self.stack[-1] = "key"
                self.state = self.begin_string
            elif b == ord("}"):
                self.stack.pop()
                self.state = self.end_value
            else:
                self.fail(b, "after object key:value pair")
        else:
            if b == ord(","):
                self.state = self.begin_value
            elif b == ord("]"):
                self.stack.pop()
                self.state = self.end_value
            else:
                self.fail(b, "after array element")

    def end_top_state(self, b: int) -> None:
        if b not in _SPACE:
            self.fail(b, "after top-level value")

    # strings
    def in_string(self, b: int) -> None:
        if b == ord('"'):
            self.state = self.end_value
        elif b == ord("\\"):
            self.state = self.in_string_escape
        elif b < 0x20:
            self.fail(b, "in string literal")

    def in_string_escape(self, b: int) -> None:
        if b in b'bfnrt\\/"':
            self.state = self.in_string
        elif b == ord("u"):
            self.state = self.hex_digits(4)
        else:
            self.fail(b, "in string escape code")

    def hex_digits(self, left: int):  # noqa: ANN201 - a state
        def state(b: int) -> None:
            if b not in _HEX:
                self.fail(b, "in \\u hexadecimal character escape")
            else:
                self.state = self.in_string if left == 1 else self.hex_digits(left - 1)

        return state

    # numbers
    def neg(self, b: int) -> None:
        if b == ord("0"):
            self.state = self.zero
        elif ord("1") <= b <= ord("9"):
            self.state = self.one
        else:
            self.fail(b, "in numeric literal")

    def one(self, b: int) -> None:
        if b in _DIGITS:
            return
        self.zero(b)

    def zero(self, b: int) -> None:
        if b == ord("."):
            self.state = self.dot
        elif b in b"eE":
            self.state = self.exponent
        else:
            self.end_value(b)

    def dot(self, b: int) -> None:
        if b in _DIGITS:
            self.state = self.dot_digits
        else:
            self.fail(b, "after decimal point in numeric literal")

    def dot_digits(self, b: int) -> None:
        if b in _DIGITS:
            return
        if b in b"eE":
            self.state = self.exponent
        else:
            self.end_value(b)

    def exponent(self, b: int) -> None:
        if b in b"+-":
            self.state = self.exponent_sign
        else:
            self.exponent_sign(b)

    def exponent_sign(self, b: int) -> None:
        if b in _DIGITS:
            self.state = self.exponent_digits
        else:
            self.fail(b, "in exponent of numeric literal")

    def exponent_digits(self, b: int) -> None:
        if b not in _DIGITS:
            self.end_value(b)

    # true, false, null
    def literal(self, word: str, at: int):  # noqa: ANN201 - a state
        def state(b: int) -> None:
            if b != ord(word[at]):
                self.fail(b, f"in literal {word} (expecting {_quote_char(ord(word[at]))})")
            else:
                self.state = self.end_value if at + 1 == len(word) else self.literal(word, at + 1)

        return state


def json_syntax_error(data: bytes) -> str | None:
    """What json.Unmarshal says of `data` when it is not one JSON value (its checkValid pass), or None when it is."""
    scanner = _Scanner()
    for byte in data:
        scanner.step(byte)
        if scanner.error:
            return scanner.error
    if scanner.end_top:
        return None
    scanner.step(ord(" "))  # scanner.eof: a number at the top level ends here
    if scanner.error:
        return scanner.error
    return None if scanner.end_top else "unexpected end of JSON input"


def unmarshal_type_error(value: Any, go_type: str) -> str:
    """json.Unmarshal's UnmarshalTypeError for a value of the wrong JSON type at the top level."""
    if isinstance(value, bool):
        what = "bool"
    elif isinstance(value, int | float):
        what = "number"
    else:
        what = {str: "string", list: "array", dict: "object"}.get(type(value), "value")
    return f"json: cannot unmarshal {what} into Go value of type {go_type}"


def raw_url_b64decode(text: str) -> bytes:
    """base64.RawURLEncoding.DecodeString: the URL alphabet without padding; CR and LF are skipped. A bad input raises
    ValueError worded as Go's CorruptInputError ("illegal base64 data at input byte N", N counting bytes)."""
    data = text.encode()
    kept = bytearray()
    count = 0  # characters of the current quantum
    for i, byte in enumerate(data):
        if byte in b"\r\n":
            continue
        if byte not in _B64_URL:
            raise ValueError(f"illegal base64 data at input byte {i}")
        kept.append(byte)
        count = (count + 1) % 4
    if count == 1:  # a lone character cannot end a quantum: Go reports the last input byte (decodeQuantum, si - j)
        raise ValueError(f"illegal base64 data at input byte {len(data) - 1}")
    try:
        return base64.urlsafe_b64decode(bytes(kept) + b"=" * (-len(kept) % 4))
    except binascii.Error as exc:  # not reached: every character was checked above
        raise ValueError("illegal base64 data at input byte 0") from exc

