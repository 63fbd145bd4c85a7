"""Python `websockets` client in the room of examples/chat_server.rs
(tests/chat_server.rs).

    python3 tests/peers/chat_client.py 'ws://127.0.0.1:PORT/ws?name=NAME' EXTENSIONS

The test's own client, named "rust", is already in the room. This joins
(offering permessage-deflate, websockets' default) and checks that the
server answered with the Sec-WebSocket-Extensions EXTENSIONS ("" for none)
and that websockets put exactly that into use. Then it says hello to the
room (Chinese and emoji, sent the way json.dumps writes them: as \\u
escapes with surrogate pairs), sends a long message (compressed both ways
when the extension is on), sends "rust" a private message and waits for its
answer, checks that a binary message is refused with an error, and closes
with 1000. Every message must arrive in the order the server's protocol
implies. Prints one line per check; on the first mismatch prints what went
wrong on stderr and exits 1.
"""

import json
import sys
import traceback
from urllib.parse import parse_qs, urlparse

from websockets.sync.client import connect

TIMEOUT = 10  # seconds for any one message
# A room message long enough for the server to compress (it sends messages
# under 512 bytes as they are); tests/chat_server.rs expects the same text.
LONG = "长消息 long message 🦀 " * 100


class Mismatch(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Mismatch(message)


def expect(ws, kind, **fields):
    """The next message: a JSON text frame of type `kind` with `fields`."""
    data = ws.recv(timeout=TIMEOUT)
    check(isinstance(data, str), f"expected a text frame, got {data!r}")
    event = json.loads(data)
    check(event.get("type") == kind, f"expected a {kind!r} message, got {event}")
    for key, value in fields.items():
        check(event.get(key) == value, f"{kind}: {key} is {event.get(key)!r}, expected {value!r}")
    check(isinstance(event.get("time"), int), f"{kind} without a server timestamp: {event}")
    print(f"ok {kind}: {data}", flush=True)
    return event


def check_extensions(ws, expected):
    """The 101 carried `expected` ("" for no header) and websockets uses it."""
    answered = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    check(answered == expected, f"the server answered extensions {answered!r}, expected {expected!r}")
    in_use = [extension.name for extension in ws.protocol.extensions]
    want = ["permessage-deflate"] if expected else []
    check(in_use == want, f"websockets uses the extensions {in_use}, expected {want}")
    print(f"ok extensions: {answered!r}", flush=True)


def run(url, extensions):
    name = parse_qs(urlparse(url).query)["name"][0]
    with connect(url, proxy=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        check_extensions(ws, extensions)
        welcome = expect(ws, "welcome", you=name)
        check("rust" in welcome["users"], f"rust is not online: {welcome}")
        expect(ws, "join", user=name)

        hello = f"hello from {name} 你好 🦀"
        ws.send(json.dumps({"text": hello}))  # ensure_ascii: \\ud83e\\udd80
        expect(ws, "message", **{"from": name, "text": hello})
        ws.send(json.dumps({"text": LONG}))
        expect(ws, "message", **{"from": name, "text": LONG})

        ws.send(json.dumps({"text": "psst, rust", "to": "rust"}))
        expect(ws, "private", **{"from": name, "to": "rust", "text": "psst, rust"})
        expect(ws, "private", **{"from": "rust", "to": name, "text": "hi back 👋"})

        ws.send(b"\x00\x01 binary")
        error = expect(ws, "error")
        check("binary" in error["error"], f"unexpected error text: {error}")

        ws.close(1000, "bye")
        exc = ws.close_exc
        check(exc is not None and exc.rcvd is not None, f"no close frame from the server: {exc!r}")
        check(exc.rcvd.code == 1000, f"server answered close 1000 with {exc.rcvd.code}")
        print("ok close 1000", flush=True)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: chat_client.py 'ws://HOST:PORT/ws?name=NAME' EXTENSIONS")
    try:
        run(sys.argv[1], sys.argv[2])
    except Mismatch as e:
        print(f"chat_client.py: MISMATCH: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception:
        print("chat_client.py: FAILED with an exception:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    print("chat_client.py: all checks passed", flush=True)


if __name__ == "__main__":
    main()
