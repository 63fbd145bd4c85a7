"""Python `websockets` client with permessage-deflate against a server that
speaks it (tests/deflate_interop.rs): our echo_server.

    python3 tests/peers/deflate_py_client.py ws://127.0.0.1:PORT/ws POLICY

POLICY is how the server was started: `no-context-takeover` (its default:
it adds server_no_context_takeover and client_no_context_takeover to every
answer) or `context-takeover` (--deflate-context-takeover: it answers each
offer as asked). For each parameter combination websockets can offer
(context takeover and window sizes both ways), checks that the server
answered with exactly the parameters that follow from the offer and the
policy, that websockets applies them, and that messages from empty to 1 MiB
(compressible text, incompressible binary, fragmented messages) come back
unchanged. Prints one line per check; on the first mismatch prints what went
wrong on stderr and exits 1.
"""

import random
import sys
import traceback

from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

TIMEOUT = 10
SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]
POLICIES = ["no-context-takeover", "context-takeover"]

# (name, factory arguments, the parameters the offer asks for)
COMBOS = [
    ("default", {"compress_settings": {"memLevel": 5}}, {}),
    ("server_no_context_takeover", {"server_no_context_takeover": True}, {"snct": True}),
    ("client_no_context_takeover", {"client_no_context_takeover": True}, {"cnct": True}),
    ("both no_context_takeover", {"server_no_context_takeover": True, "client_no_context_takeover": True},
     {"snct": True, "cnct": True}),
    ("server_max_window_bits=9", {"server_max_window_bits": 9}, {"smwb": 9}),
    ("server_max_window_bits=12", {"server_max_window_bits": 12}, {"smwb": 12}),
    ("client_max_window_bits=9", {"client_max_window_bits": 9}, {"cmwb": 9}),
    ("client_max_window_bits absent", {"client_max_window_bits": None}, {}),
    ("everything", {"server_no_context_takeover": True, "client_no_context_takeover": True,
                    "server_max_window_bits": 10, "client_max_window_bits": 11},
     {"snct": True, "cnct": True, "smwb": 10, "cmwb": 11}),
]


def agreed(asked, policy):
    """The parameters the server agrees to for an offer asking for `asked`
    under `policy`: (server_nct, client_nct, server_bits, client_bits)."""
    no_takeover = policy == "no-context-takeover"
    return (
        asked.get("snct", False) or no_takeover,
        asked.get("cnct", False) or no_takeover,
        asked.get("smwb", 15),
        asked.get("cmwb", 15),
    )


def answer(params):
    """The Sec-WebSocket-Extensions entry for `params`, as the server writes it."""
    snct, cnct, smwb, cmwb = params
    out = "permessage-deflate"
    if snct:
        out += "; server_no_context_takeover"
    if cnct:
        out += "; client_no_context_takeover"
    if smwb < 15:
        out += f"; server_max_window_bits={smwb}"
    if cmwb < 15:
        out += f"; client_max_window_bits={cmwb}"
    return out


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


def run_combo(url, name, kwargs, asked, policy):
    factory = ClientPerMessageDeflateFactory(**kwargs)
    params = agreed(asked, policy)
    with connect(url, proxy=None, ping_interval=None, max_size=None, compression=None,
                 extensions=[factory], open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        accepted = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        check(accepted == answer(params), f"{name}: the server answered {accepted!r}, expected {answer(params)!r}")
        check(len(ws.protocol.extensions) == 1, f"{name}: extensions {ws.protocol.extensions}")
        deflate = ws.protocol.extensions[0]
        # As websockets applies them: "remote" is the server, "local" us.
        in_use = (deflate.remote_no_context_takeover, deflate.local_no_context_takeover,
                  deflate.remote_max_window_bits, deflate.local_max_window_bits)
        check(in_use == params, f"{name}: websockets applies {in_use}, expected {params}")
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
    if len(sys.argv) != 3 or sys.argv[2] not in POLICIES:
        sys.exit(f"usage: deflate_py_client.py ws://HOST:PORT/PATH {'|'.join(POLICIES)}")
    try:
        for name, kwargs, asked in COMBOS:
            run_combo(sys.argv[1], name, kwargs, asked, sys.argv[2])
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
