//! The outgoing byte buffer: whole frames, encoded (and masked, for a
//! client) as they are queued. The caller drains it with
//! [`Connection::pending`](crate::Connection::pending) and
//! [`Connection::advance`](crate::Connection::advance).

use bytes::{Buf, BytesMut};

use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};

/// Drop the buffer's allocation when it drains empty and is larger than
/// this, so a burst of large sends does not pin memory on an idle connection.
const KEEP_CAPACITY: usize = 16 * 1024;

/// Where client masking keys come from (§5.3: unpredictable, from a strong
/// source of entropy). Keys are fetched 8 at a time to amortise the call.
#[derive(Debug, Clone)]
pub(crate) struct MaskKeys {
    fill: fn(&mut [u8]),
    pool: [u8; 32],
    next: usize,
}

impl MaskKeys {
    pub(crate) fn new(fill: fn(&mut [u8])) -> Self {
        MaskKeys {
            fill,
            pool: [0; 32],
            next: 32,
        }
    }

    fn next_key(&mut self) -> [u8; 4] {
        if self.next == self.pool.len() {
            (self.fill)(&mut self.pool);
            self.next = 0;
        }
        let k = &self.pool[self.next..self.next + 4];
        self.next += 4;
        [k[0], k[1], k[2], k[3]]
    }
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: BytesMut,
}

impl Outbox {
    /// Encodes one frame at the end of the buffer, masking it when `masks` is given.
    pub(crate) fn push_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        masks: Option<&mut MaskKeys>,
    ) {
        self.push_data_frame(opcode, fin, 0, payload, masks);
    }

    /// Like [`push_frame`](Self::push_frame), with RSV bits (RSV1 marks a
    /// compressed message, RFC 7692 §6).
    pub(crate) fn push_data_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv: u8,
        payload: &[u8],
        masks: Option<&mut MaskKeys>,
    ) {
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask: masks.map(MaskKeys::next_key),
            payload_len: payload.len() as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        self.buf.reserve(n + payload.len());
        self.buf.extend_from_slice(&head[..n]);
        let start = self.buf.len();
        self.buf.extend_from_slice(payload);
        if let Some(key) = header.mask {
            apply_mask(&mut self.buf[start..], key, 0);
        }
    }

    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.buf.advance(n.min(self.buf.len()));
        if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = BytesMut::new();
        }
    }
}
