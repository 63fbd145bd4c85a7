"""The wsproto side of tests/differential.rs.

    python3 tests/peers/wsproto_diff.py < cases.bin

Reads a batch of byte streams from standard input, feeds each one, chunk by
chunk, to a fresh post-handshake `wsproto.connection.Connection` in the
role the case names, and prints one normalised outcome line per case.

Input: records until end of file, little-endian:
    u8  role           b"S" = ConnectionType.SERVER, b"C" = ConnectionType.CLIENT;
                       lower case (b"s", b"c"): permessage-deflate agreed,
                       and three more bytes follow:
        u8 flags       bit 0 server_no_context_takeover,
                       bit 1 client_no_context_takeover,
                       bit 7 wsproto's extension as released (see below)
        u8 server_max_window_bits (9-15)
        u8 client_max_window_bits (9-15)
    u32 chunk count
    per chunk: u32 length, then that many bytes

Output: a first line `wsproto VERSION`, then per case one line
`INDEX TOKEN...`, then `done COUNT`. Tokens, in the order they happened:
    T:HEX        a complete text message (its UTF-8 bytes; frames joined
                 until message_finished); above 4 KiB `T:#LEN-CRC` (hex
                 length and CRC-32) instead: megabytes of hex are slow
    B:HEX        a complete binary message
    PI:HEX       a ping
    PO:HEX       a pong
    C:CODE:HEX   the peer's close frame (code, UTF-8 reason; 1005 for none)
    F:CODE       wsproto failed the connection with this close code
    Z:far        after F: zlib said "invalid distance too far back" (the
                 compressed data refers further back than the window)
    X:HEX        wsproto raised something else (a bug on its side)

permessage-deflate runs through `FixedPerMessageDeflate`, wsproto's
extension with two of its bugs fixed (tests/differential/main.rs, D4 and
D5), so that the comparison goes on past them; flag bit 7 selects the
extension as released, to pin that the bugs are still there.

How a failure is told from a peer close: wsproto turns a protocol
violation (`ParseFailed`) into a `CloseConnection` event without changing
the connection state, while a real close frame moves it out of OPEN (to
REMOTE_CLOSING). So a `CloseConnection` seen while the state is still OPEN
is a failure. Nothing after a failure or a close is reported: wsproto stops
parsing there (and so does our side).
"""

import struct
import sys
import zlib

import wsproto
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason

ROLES = {ord("S"): ConnectionType.SERVER, ord("C"): ConnectionType.CLIENT}


class FixedPerMessageDeflate(PerMessageDeflate):
    """wsproto 1.3.2's permessage-deflate with two receive bugs fixed.

    D4: after a message whose deflate stream ended (a block with BFINAL,
    RFC 7692 §7.2.3.4), wsproto keeps the finished decompressor (with
    context takeover), and the next compressed message fails with 1007
    ("error in extension"). Fixed: a new decompressor for the next message.

    D5: a control frame between the fragments of a compressed message
    resets `_inbound_compressed`, so the next continuations are handed on
    still compressed. Fixed: a control frame leaves the message's state
    as it was.
    """

    _in_frame = False
    zlib_error = None

    def frame_inbound_payload_data(self, proto, data):
        # As wsproto's, but keeping zlib's message (D6 in main.rs needs it).
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        try:
            return self._decompressor.decompress(bytes(data))
        except zlib.error as exc:
            self.zlib_error = str(exc)
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA

    def frame_inbound_header(self, proto, opcode, rsv, payload_length):
        # wsproto calls this again for the same frame when its header came
        # in pieces (it parses, rolls back, parses again): keep the state
        # from before the first call.
        if not self._in_frame:
            self._before_frame = self._inbound_compressed
            self._in_frame = True
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def frame_inbound_complete(self, proto, fin):
        self._in_frame = False
        if not self._inbound_is_compressible:
            self._inbound_compressed = self._before_frame
            return None
        compressed = fin and self._inbound_compressed
        result = super().frame_inbound_complete(proto, fin)
        if compressed and self._decompressor is not None and self._decompressor.eof:
            self._decompressor = None
        return result


def connection(role, deflate):
    """A post-handshake connection; with `deflate` = (flags, server bits,
    client bits), permessage-deflate as if the handshake had agreed on it."""
    if deflate is None:
        return Connection(ROLES[role])
    flags, server_bits, client_bits = deflate
    kind = PerMessageDeflate if flags & 0x80 else FixedPerMessageDeflate
    ext = kind(
        client_no_context_takeover=bool(flags & 2),
        client_max_window_bits=client_bits,
        server_no_context_takeover=bool(flags & 1),
        server_max_window_bits=server_bits,
    )
    # What a finished negotiation (accept() or finalize()) leaves behind.
    ext._enabled = True
    return Connection(ROLES[role], extensions=[ext])


def payload(data):
    """A message's bytes in hex; above 4 KiB only `#LENGTH-CRC32` (hex)."""
    if len(data) > 4096:
        return "#%x-%08x" % (len(data), zlib.crc32(data))
    return bytes(data).hex()


def run_case(role, deflate, chunks):
    conn = connection(role, deflate)
    tokens = []
    text = []  # pieces of the text message being received
    data = bytearray()  # pieces of the binary message being received
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            if isinstance(event, TextMessage):
                text.append(event.data)
                if event.message_finished:
                    tokens.append("T:" + payload("".join(text).encode("utf-8")))
                    text = []
            elif isinstance(event, BytesMessage):
                data += event.data
                if event.message_finished:
                    tokens.append("B:" + payload(data))
                    data = bytearray()
            elif isinstance(event, Ping):
                tokens.append("PI:" + bytes(event.payload).hex())
            elif isinstance(event, Pong):
                tokens.append("PO:" + bytes(event.payload).hex())
            elif isinstance(event, CloseConnection):
                if conn.state is ConnectionState.OPEN:
                    tokens.append("F:%d" % int(event.code))
                    exts = conn._proto.extensions
                    if any("too far back" in (getattr(e, "zlib_error", None) or "") for e in exts):
                        tokens.append("Z:far")
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
        deflate = None
        if role in (ord("s"), ord("c")):
            deflate = tuple(buf[pos + 1 : pos + 4])
            role = ord(chr(role).upper())
            pos += 3
        (count,) = struct.unpack_from("<I", buf, pos + 1)
        pos += 5
        chunks = []
        for _ in range(count):
            (n,) = struct.unpack_from("<I", buf, pos)
            pos += 4
            chunks.append(bytes(buf[pos : pos + n]))
            pos += n
        try:
            tokens = run_case(role, deflate, chunks)
        except Exception as exc:  # a crash inside wsproto: report, go on
            tokens = ["X:" + repr(exc).encode().hex()]
        out.write("%d %s\n" % (index, " ".join(tokens)))
        index += 1
    out.write("done %d\n" % index)


if __name__ == "__main__":
    main()
