"""Python `websockets` client against an echo server (tests/interop.rs).

    python3 tests/peers/py_client.py ws://127.0.0.1:PORT/ws EXTENSIONS

Offers permessage-deflate (websockets' default) and checks that the server
answered with the Sec-WebSocket-Extensions EXTENSIONS ("" for none) and that
websockets put exactly that into use, with its parameters. Checks that every
message comes back with the same type and bytes (sizes across the three
length forms, non-ASCII text, fragmented messages; compressed both ways when
the extension is on), that a ping with a payload gets its pong, and that the
close handshake is clean with the code echoed. Prints one line per check on stdout; on the first mismatch
prints what went wrong on stderr and exits 1.

For a wss:// URL (tests/tls_interop.rs), PEER_CA_FILE names the PEM file of
the CA to trust: the server's certificate is verified against it and the
URL's host, as websockets does by default with the system's roots.
"""

import os
import ssl
import sys
import time
import traceback

from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.sync.client import connect

TIMEOUT = 10  # seconds for any one receive or pong
CLOSE_WITHIN = 3  # seconds for the whole close handshake, TCP close included
SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]


class Mismatch(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Mismatch(message)


def describe(data):
    kind = "text" if isinstance(data, str) else "binary"
    head = data[:40]
    more = "..." if len(data) > 40 else ""
    return f"{kind} of {len(data)} {'chars' if kind == 'text' else 'bytes'}: {head!r}{more}"


def open_socket(url):
    # No proxy (loopback only), no keepalive pings (the test sends its own),
    # no size limit (1 MiB messages are exactly websockets' default limit).
    # Compression stays at its default: permessage-deflate is offered.
    tls = {}
    if url.startswith("wss://"):
        tls["ssl"] = ssl.create_default_context(cafile=os.environ.get("PEER_CA_FILE"))
    return connect(
        url,
        **tls,
        proxy=None,
        ping_interval=None,
        max_size=None,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    )


def expect_echo(ws, sent, expected=None, what=None, text=None):
    expected = sent if expected is None else expected
    ws.send(sent, text=text)
    got = ws.recv(timeout=TIMEOUT)
    check(
        type(got) is type(expected),
        f"{what or describe(expected)}: echo has the wrong type: {describe(got)}",
    )
    check(
        got == expected,
        f"{what or describe(expected)}: echo differs: {describe(got)}",
    )
    print(f"ok echo {what or describe(expected)[:60]}", flush=True)


def text_of(size):
    return "".join(chr(ord("a") + i % 26) for i in range(size))


def bytes_of(size):
    return bytes(i % 251 for i in range(size))


def run(url, extensions):
    with open_socket(url) as ws:
        check_extensions(ws, extensions)
        exercise(ws)
        # Close handshake: the server echoes the code; the close is clean
        # (websockets calls a close clean only with code 1000 or 1001).
        close(ws, 1000, "bye from python 再见")
        check(isinstance(ws.close_exc, ConnectionClosedOK), f"close was not clean: {ws.close_exc!r}")

    # Another connection, closed with an application code.
    with open_socket(url) as ws:
        expect_echo(ws, "second connection")
        close(ws, 4000, "application code")

    # A text message that ends inside a code point: the server fails the
    # connection with 1007 (§8.1), which websockets must see as such.
    with open_socket(url) as ws:
        ws.send(["🦀".encode()[:2], "🦀".encode()[2:3]], text=True)
        try:
            got = ws.recv(timeout=TIMEOUT)
        except ConnectionClosed:
            pass
        else:
            raise Mismatch(f"invalid UTF-8 was answered with a message: {describe(got)}")
        check(ws.close_code == 1007, f"invalid UTF-8: close code {ws.close_code}, expected 1007")
        print("ok invalid UTF-8 closed with 1007", flush=True)


def close(ws, code, reason):
    """Closes and checks the handshake: the code is echoed, and the server
    closes TCP at once (§7.1.1), well before websockets' own timeout."""
    start = time.monotonic()
    ws.close(code, reason)
    elapsed = time.monotonic() - start
    check(elapsed < CLOSE_WITHIN, f"close {code} took {elapsed:.1f} s (server slow to close TCP?)")
    exc = ws.close_exc
    check(exc is not None, "connection still open after close()")
    check(exc.sent is not None and exc.sent.code == code, f"we did not send close {code}: {exc!r}")
    check(exc.rcvd is not None, f"the server sent no close frame: {exc!r}")
    check(ws.close_code == code, f"server answered close {code} with code {ws.close_code}")
    print(f"ok close: code {ws.close_code}, reason {ws.close_reason!r}", flush=True)


def check_extensions(ws, expected):
    """The 101 carried `expected` ("" for no header), and websockets uses
    exactly that: permessage-deflate with the context takeover it names."""
    check(ws.response.status_code == 101, f"handshake status {ws.response.status_code}")
    answered = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    check(answered == expected, f"the server answered extensions {answered!r}, expected {expected!r}")
    in_use = ws.protocol.extensions
    if not expected:
        check(in_use == [], f"websockets uses {in_use} though the server declined")
    else:
        check(len(in_use) == 1 and in_use[0].name == "permessage-deflate",
              f"websockets uses {in_use}, expected permessage-deflate")
        deflate = in_use[0]
        # The server's parameters as websockets applies them: "remote" is
        # the server's side, "local" ours.
        for param, value in [
            ("server_no_context_takeover", deflate.remote_no_context_takeover),
            ("client_no_context_takeover", deflate.local_no_context_takeover),
        ]:
            check(value == (param in expected), f"{param}: websockets has {value} for {expected!r}")
    print(f"ok extensions: {answered!r}", flush=True)


def exercise(ws):

    for size in SIZES:
        expect_echo(ws, text_of(size))
        expect_echo(ws, bytes_of(size))

    expect_echo(ws, "你好，世界！WebSocket 测试 🦀🎉👋🏽 ñ", what="Chinese + emoji text")
    expect_echo(ws, "狗🐕" * 40000, what="large Chinese + emoji text")

    # An iterable is sent as one fragmented message, one frame per item.
    expect_echo(ws, ["frag", "men", "ted ", "文字 ", "🎉"], "fragmented 文字 🎉",
                what="fragmented text (5 frames)")
    expect_echo(ws, [b"\x00\x01", b"", b"\x02" * 70000, b"\xff"],
                b"\x00\x01" + b"\x02" * 70000 + b"\xff",
                what="fragmented binary (4 frames, one empty, one 70000 bytes)")
    # A text message whose fragments split code points: UTF-8 is validated
    # across fragments, not per frame.
    emoji = "🦀".encode()
    expect_echo(ws, [emoji[:1], emoji[1:3], emoji[3:] + "中".encode()[:2], "中".encode()[2:]],
                "🦀中", what="fragmented text splitting code points", text=True)
    ws.send("", text=True)  # an empty text message right after fragments
    check(ws.recv(timeout=TIMEOUT) == "", "empty text after fragments not echoed")

    # Pings with a payload (at most 125 bytes) must be answered with the same payload.
    for payload in [b"python-ping", b"", bytes(range(125))]:
        waiter = ws.ping(payload)
        check(waiter.wait(TIMEOUT), f"no pong for a ping with {len(payload)} bytes")
        print(f"ok pong for a ping with {len(payload)} bytes", flush=True)

    # Many messages in flight before the first echo is read: order is kept.
    # About 100 KB in all: small enough to sit in socket buffers while unread.
    batch = [f"message {i} ✓" if i % 2 else bytes_of(i * 5) for i in range(200)]
    for message in batch:
        ws.send(message)
    for i, message in enumerate(batch):
        got = ws.recv(timeout=TIMEOUT)
        check(got == message, f"pipelined message {i}: got {describe(got)}, sent {describe(message)}")
    print("ok 200 pipelined messages in order", flush=True)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: py_client.py ws://HOST:PORT/PATH EXTENSIONS")
    try:
        run(sys.argv[1], sys.argv[2])
    except Mismatch as e:
        print(f"py_client: MISMATCH: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception:
        print("py_client: FAILED with an exception:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    print("py_client: all checks passed", flush=True)


if __name__ == "__main__":
    main()
