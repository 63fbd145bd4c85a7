"""The wsproto side of tests/differential.rs.

    python3 tests/peers/wsproto_diff.py < cases.bin

Reads a batch of byte streams from standard input, feeds each one, chunk by
chunk, to a fresh post-handshake `wsproto.connection.Connection` in the
role the case names, and prints one normalised outcome line per case.

Input: records until end of file, little-endian:
    u8  role           b"S" = ConnectionType.SERVER, b"C" = ConnectionType.CLIENT
    u32 chunk count
    per chunk: u32 length, then that many bytes

Output: a first line `wsproto VERSION`, then per case one line
`INDEX TOKEN...`, then `done COUNT`. Tokens, in the order they happened:
    T:HEX        a complete text message (its UTF-8 bytes; frames joined
                 until message_finished)
    B:HEX        a complete binary message
    PI:HEX       a ping
    PO:HEX       a pong
    C:CODE:HEX   the peer's close frame (code, UTF-8 reason; 1005 for none)
    F:CODE       wsproto failed the connection with this close code
    X:HEX        wsproto raised something else (a bug on its side)

How a failure is told from a peer close: wsproto turns a protocol
violation (`ParseFailed`) into a `CloseConnection` event without changing
the connection state, while a real close frame moves it out of OPEN (to
REMOTE_CLOSING). So a `CloseConnection` seen while the state is still OPEN
is a failure. Nothing after a failure or a close is reported: wsproto stops
parsing there (and so does our side).
"""

import struct
import sys

import wsproto
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

ROLES = {ord("S"): ConnectionType.SERVER, ord("C"): ConnectionType.CLIENT}


def run_case(role, chunks):
    conn = Connection(ROLES[role])
    tokens = []
    text = []  # pieces of the text message being received
    data = bytearray()  # pieces of the binary message being received
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            if isinstance(event, TextMessage):
                text.append(event.data)
                if event.message_finished:
                    tokens.append("T:" + "".join(text).encode("utf-8").hex())
                    text = []
            elif isinstance(event, BytesMessage):
                data += event.data
                if event.message_finished:
                    tokens.append("B:" + data.hex())
                    data = bytearray()
            elif isinstance(event, Ping):
                tokens.append("PI:" + bytes(event.payload).hex())
            elif isinstance(event, Pong):
                tokens.append("PO:" + bytes(event.payload).hex())
            elif isinstance(event, CloseConnection):
                if conn.state is ConnectionState.OPEN:
                    tokens.append("F:%d" % int(event.code))
                else:
                    reason = (event.reason or "").encode("utf-8").hex()
                    tokens.append("C:%d:%s" % (int(event.code), reason))
                return tokens
            else:
                tokens.append("X:" + repr(event).encode().hex())
                return tokens
    return tokens


def main():
    buf = memoryview(sys.stdin.buffer.read())
    out = sys.stdout
    out.write("wsproto %s\n" % wsproto.__version__)
    pos = 0
    index = 0
    while pos < len(buf):
        role = buf[pos]
        (count,) = struct.unpack_from("<I", buf, pos + 1)
        pos += 5
        chunks = []
        for _ in range(count):
            (n,) = struct.unpack_from("<I", buf, pos)
            pos += 4
            chunks.append(bytes(buf[pos : pos + n]))
            pos += n
        try:
            tokens = run_case(role, chunks)
        except Exception as exc:  # a crash inside wsproto: report, go on
            tokens = ["X:" + repr(exc).encode().hex()]
        out.write("%d %s\n" % (index, " ".join(tokens)))
        index += 1
    out.write("done %d\n" % index)


if __name__ == "__main__":
    main()
