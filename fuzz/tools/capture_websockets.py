#!/usr/bin/env python3
"""Captures what a real server (Python `websockets`) sends a client, byte for byte.

Starts a `websockets` echo server, connects with a raw socket, sends the
RFC 6455 §1.3 sample handshake and masked frames ("Hello", a ping, "Hel" +
"lo" in two fragments, close 1000 "bye"), and records everything the server
answers: the 101 response, then its unmasked frames.

    python3 fuzz/tools/capture_websockets.py OUTDIR

writes OUTDIR/websockets-response.http and OUTDIR/websockets-frames.bin.
Needs `pip install websockets`. Not run by fuzz/run.sh.
"""
import asyncio, os, socket, struct, sys

import websockets

KEY = bytes([0x37, 0xFA, 0x21, 0x3D])
REQUEST = (b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")


def frame(fin, opcode, payload):
    head = bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)])
    return head + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    async with websockets.serve(echo, "127.0.0.1", 0, subprotocols=["chat"],
                                compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        writer.write(frame(True, 1, b"Hello") + frame(True, 9, b"ping")
                     + frame(False, 1, b"Hel") + frame(True, 0, b"lo"))
        await writer.drain()
        # Let the echoes out before closing (the server stops echoing once
        # it has seen the close frame).
        await asyncio.sleep(0.5)
        writer.write(frame(True, 8, struct.pack("!H", 1000) + b"bye"))
        await writer.drain()
        frames = b""
        while chunk := await reader.read(65536):
            frames += chunk
        writer.close()
    with open(os.path.join(outdir, "websockets-response.http"), "wb") as f:
        f.write(head)
    with open(os.path.join(outdir, "websockets-frames.bin"), "wb") as f:
        f.write(frames)


asyncio.run(main())
