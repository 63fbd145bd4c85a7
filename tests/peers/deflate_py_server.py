"""Python `websockets` echo server with permessage-deflate at its defaults
(server_max_window_bits=12, client_max_window_bits=12 when offered), for our
client (tests/deflate_interop.rs).

    python3 tests/peers/deflate_py_server.py

Prints `listening on PORT` first. Echoes every message with its type; for the
text `extensions?` answers with the Sec-WebSocket-Extensions it sent. Exits
when its standard input closes.
"""

import os
import sys
import threading

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve


def handler(ws):
    try:
        for message in ws:
            if message == "extensions?":
                ws.send(ws.response.headers.get("Sec-WebSocket-Extensions", ""))
            else:
                ws.send(message)
    except ConnectionClosed:
        pass


def exit_when_stdin_closes():
    sys.stdin.buffer.read()
    os._exit(0)


def main():
    with serve(handler, "127.0.0.1", 0, compression="deflate", max_size=None,
               ping_interval=None) as server:
        port = server.socket.getsockname()[1]
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
        print(f"listening on {port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
