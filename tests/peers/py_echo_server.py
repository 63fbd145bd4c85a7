"""Python `websockets` echo server for our client (tests/interop.rs).

    python3 tests/peers/py_echo_server.py

Listens on 127.0.0.1 on a port the OS picks and prints `listening on PORT`
as its first line. Echoes every text and binary message with its type.
Accepts the subprotocol `interop.v1` when a client offers it. Two text
commands drive the server's side of control frames:

* `ping:PAYLOAD`: the server pings with PAYLOAD and answers `pong ok` once
  the matching pong arrives (`pong missing` after 5 s).
* `close:CODE:REASON`: the server starts the close handshake.

Exits when its standard input closes, so it cannot outlive the test.

With PEER_TLS_CERT and PEER_TLS_KEY (PEM files; tests/tls_interop.rs) it
serves wss:// instead of ws://.
"""

import os
import ssl
import sys
import threading

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

SUBPROTOCOL = "interop.v1"


def select_subprotocol(ws, offered):
    # websockets' default refuses clients that offer no subprotocol at all.
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def handler(ws):
    try:
        for message in ws:
            if isinstance(message, str) and message.startswith("ping:"):
                waiter = ws.ping(message[len("ping:"):].encode())
                ws.send("pong ok" if waiter.wait(5) else "pong missing")
            elif isinstance(message, str) and message.startswith("close:"):
                _, code, reason = message.split(":", 2)
                ws.close(int(code), reason)
            else:
                ws.send(message)
    except ConnectionClosed:
        pass


def exit_when_stdin_closes():
    sys.stdin.buffer.read()
    os._exit(0)


def main():
    tls = {}
    if os.environ.get("PEER_TLS_CERT"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.environ["PEER_TLS_CERT"], os.environ["PEER_TLS_KEY"])
        tls["ssl"] = context
    with serve(
        handler,
        "127.0.0.1",
        0,
        **tls,
        select_subprotocol=select_subprotocol,
        compression=None,
        max_size=None,
        ping_interval=None,
    ) as server:
        port = server.socket.getsockname()[1]
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
        print(f"listening on {port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
