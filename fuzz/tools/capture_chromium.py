#!/usr/bin/env python3
"""Captures what headless Chromium really sends on a WebSocket, byte for byte.

Serves a page on http://127.0.0.1:PORT/ whose script opens ws://.../chat,
answers the upgrade with a plain 101, and records the request and every frame
the browser sends: "Hello" (§5.7), a 200-byte text (126 length form), a
64 KiB binary message (127 length form), then close(1000, "bye").

    python3 fuzz/tools/capture_chromium.py OUTDIR

writes OUTDIR/chromium-request.http (the handshake request) and
OUTDIR/chromium-frames.bin (every byte after it, masked frames as sent).
Needs `chromium` on PATH. Not run by fuzz/run.sh: the captures are
committed under fuzz/seeds/.
"""
import base64, hashlib, os, socket, subprocess, sys, threading, time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PAGE = b"""<!doctype html><script>
const ws = new WebSocket(`ws://${location.host}/chat`);
ws.binaryType = "arraybuffer";
ws.onopen = () => {
  ws.send("Hello");
  ws.send("x".repeat(200));
  ws.send(new Uint8Array(65536).map((_, i) => i & 0xff));
  ws.close(1000, "bye");
};
</script>"""


def read_head(conn):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def serve(sock, outdir, done):
    while not done.is_set():
        conn, _ = sock.accept()
        head, rest = read_head(conn)
        if b"Upgrade: websocket" not in head and b"upgrade: websocket" not in head.lower():
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(PAGE) + PAGE)
            conn.close()
            continue
        key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
               if l.lower().startswith(b"sec-websocket-key:")][0]
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        frames = rest
        conn.settimeout(5)
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                frames += chunk
                # Stop after the close frame (opcode 8, masked): answer it.
                if b"\x88\x85" in frames[-200:] or b"\x88\x80" in frames[-200:]:
                    time.sleep(0.2)
                    try:
                        frames += conn.recv(65536)
                    except OSError:
                        pass
                    conn.sendall(b"\x88\x02\x03\xe8")
                    break
        except socket.timeout:
            pass
        conn.close()
        with open(os.path.join(outdir, "chromium-request.http"), "wb") as f:
            f.write(head)
        with open(os.path.join(outdir, "chromium-frames.bin"), "wb") as f:
            f.write(frames)
        done.set()


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    done = threading.Event()
    threading.Thread(target=serve, args=(sock, outdir, done), daemon=True).start()
    browser = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
         "--user-data-dir=/tmp/capture-chromium-profile", f"http://localhost:{port}/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = done.wait(30)
    browser.terminate()
    browser.wait()
    sys.exit(0 if ok else "no WebSocket connection within 30 s")


if __name__ == "__main__":
    main()
