"""Python `websockets` client with permessage-deflate against a server that
speaks it (tests/deflate_interop.rs): our echo_server with --deflate.

    python3 tests/peers/deflate_py_client.py ws://127.0.0.1:PORT/ws

For each parameter combination websockets can offer (context takeover and
window sizes both ways), checks that the server accepted permessage-deflate
with parameters that answer the offer, and that messages from empty to 1 MiB
(compressible text, incompressible binary, fragmented messages) come back
unchanged. Prints one line per check; on the first mismatch prints what went
wrong on stderr and exits 1.
"""

import os
import random
import sys
import traceback

from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

TIMEOUT = 10
SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]

# (name, factory arguments)
COMBOS = [
    ("default", {"compress_settings": {"memLevel": 5}}),
    ("server_no_context_takeover", {"server_no_context_takeover": True}),
    ("client_no_context_takeover", {"client_no_context_takeover": True}),
    ("both no_context_takeover", {"server_no_context_takeover": True, "client_no_context_takeover": True}),
    ("server_max_window_bits=9", {"server_max_window_bits": 9}),
    ("server_max_window_bits=12", {"server_max_window_bits": 12}),
    ("client_max_window_bits=9", {"client_max_window_bits": 9}),
    ("client_max_window_bits absent", {"client_max_window_bits": None}),
    ("everything", {"server_no_context_takeover": True, "client_no_context_takeover": True,
                    "server_max_window_bits": 10, "client_max_window_bits": 11}),
]


class Mismatch(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Mismatch(message)


def text_of(size):
    words = ["deflate", "window", "狗", "🐕", "message", " "]
    rng = random.Random(size)
    out = []
    n = 0
    while n < size:
        w = rng.choice(words)
        out.append(w)
        n += len(w.encode())
    s = "".join(out).encode()[:size]
    return s.decode(errors="ignore")


def binary_of(size):
    return random.Random(size).randbytes(size)


def echo(ws, data, what):
    ws.send(data)
    got = ws.recv(timeout=TIMEOUT)
    check(type(got) is type(data), f"{what}: echo has type {type(got).__name__}")
    check(got == data, f"{what}: echo differs ({len(got)} vs {len(data)})")


def run_combo(url, name, kwargs):
    factory = ClientPerMessageDeflateFactory(**kwargs)
    with connect(url, proxy=None, ping_interval=None, max_size=None, compression=None,
                 extensions=[factory], open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        accepted = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        check(accepted.startswith("permessage-deflate"), f"{name}: not accepted: {accepted!r}")
        check(len(ws.protocol.extensions) == 1, f"{name}: extensions {ws.protocol.extensions}")
        for size in SIZES:
            echo(ws, text_of(size), f"{name}: text of {size} bytes")
            echo(ws, binary_of(size), f"{name}: binary of {size} bytes")
            echo(ws, b"\0" * size, f"{name}: {size} zero bytes")
        # Fragmented: websockets sends an iterable as fragments.
        parts = ["frag", "", "mented 文字 ", "🎉" * 1000]
        ws.send(parts)
        got = ws.recv(timeout=TIMEOUT)
        check(got == "".join(parts), f"{name}: fragmented text differs")
        bparts = [b"\x00\x01", b"\x02" * 70000, b"", b"\xff"]
        ws.send(bparts)
        got = ws.recv(timeout=TIMEOUT)
        check(got == b"".join(bparts), f"{name}: fragmented binary differs")
        # Many in flight: the shared window must stay in step.
        batch = [text_of(i * 37) for i in range(100)]
        for m in batch:
            ws.send(m)
        for i, m in enumerate(batch):
            check(ws.recv(timeout=TIMEOUT) == m, f"{name}: pipelined message {i}")
        ws.close(1000, "bye")
    print(f"ok {name}: accepted {accepted!r}", flush=True)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: deflate_py_client.py ws://HOST:PORT/PATH")
    try:
        for name, kwargs in COMBOS:
            run_combo(sys.argv[1], name, kwargs)
    except Mismatch as e:
        print(f"deflate_py_client: MISMATCH: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception:
        print("deflate_py_client: FAILED with an exception:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    print("deflate_py_client: all checks passed", flush=True)


if __name__ == "__main__":
    main()
