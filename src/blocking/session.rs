//! [`Session`]: a rustls connection and the ciphertext it produced that is
//! not written yet — the one piece of TLS state that [`TlsStream`] and the
//! halves of a split TLS WebSocket share.
//!
//! Plaintext is *sealed* (encrypted) one record at a time and counts as
//! written only once all of its ciphertext is on the socket: until then
//! the connection's output still holds it, so the connection's write
//! timeout sees a peer that stopped reading exactly as over plain TCP, and
//! at most one record (16 KiB of plaintext) is held here.
//!
//! [`TlsStream`]: super::tls::TlsStream

use std::io::{self, Read, Write};
use std::vec::Vec;

use crate::connection::Connection;

/// The most plaintext sealed at once: one TLS record's worth (RFC 8446
/// §5.1: 2^14 bytes), so at most that much waits in [`Session`].
pub(super) const RECORD: usize = 16 * 1024;

/// A rustls connection with its unwritten ciphertext.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) tls: rustls::Connection,
    /// Ciphertext taken from `tls`; `wire[at..]` is not written yet.
    wire: Vec<u8>,
    at: usize,
    /// Plaintext bytes sealed into `wire` and not yet reported written.
    sealed: usize,
}

impl Session {
    pub(super) fn new(tls: rustls::Connection) -> Self {
        Session {
            tls,
            wire: Vec::new(),
            at: 0,
            sealed: 0,
        }
    }

    /// Whether ciphertext waits: sealed plaintext, or what rustls queued by
    /// itself (an alert, a `close_notify`, a key update).
    pub(super) fn wants_write(&self) -> bool {
        self.at < self.wire.len() || self.tls.wants_write()
    }

    /// Whether rustls queued something of its own since the last seal (an
    /// alert on bad input, a key update's answer): a reply to what was read.
    pub(super) fn replies(&self) -> bool {
        self.tls.wants_write()
    }

    /// Plaintext bytes sealed and not yet reported written (what a caller
    /// that offers the same bytes again gets credited for).
    pub(super) fn sealed(&self) -> usize {
        self.sealed
    }

    /// Seals up to one record of `plain` unless a sealed record is still
    /// on its way, and takes everything rustls has to send.
    pub(super) fn seal(&mut self, plain: &[u8]) -> io::Result<()> {
        if self.at == self.wire.len() {
            self.wire.clear();
            self.at = 0;
        }
        if self.sealed == 0 && !plain.is_empty() && !self.tls.is_handshaking() {
            self.sealed = self.tls.writer().write(&plain[..plain.len().min(RECORD)])?;
        }
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.wire)?;
        }
        Ok(())
    }

    /// The ciphertext to write next.
    pub(super) fn pending(&self) -> &[u8] {
        &self.wire[self.at..]
    }

    /// `n` bytes of [`pending`](Self::pending) were written.
    pub(super) fn wrote(&mut self, n: usize) {
        self.at = (self.at + n).min(self.wire.len());
    }

    /// Once every sealed byte is on the wire: how many plaintext bytes that
    /// was (and forgets them); 0 before.
    pub(super) fn take_written(&mut self) -> usize {
        if self.at == self.wire.len() && !self.tls.wants_write() {
            core::mem::take(&mut self.sealed)
        } else {
            0
        }
    }

    /// Queues a `close_notify` alert (RFC 8446 §6.1) before the write half
    /// is shut down, so that the peer can tell our end from a truncation.
    pub(super) fn close_notify(&mut self) {
        self.tls.send_close_notify();
    }

    /// Feeds ciphertext read from the socket and moves the plaintext into
    /// `conn` as far as it has room; returns how many bytes of `wire` were
    /// taken (the rest waits for room). A TLS error comes back as
    /// `InvalidData` with the rustls error inside; its alert is queued.
    /// Sets `*ended` when the peer's `close_notify` arrived.
    pub(super) fn receive(
        &mut self,
        conn: &mut Connection,
        mut wire: &[u8],
        ended: &mut bool,
    ) -> io::Result<usize> {
        let total = wire.len();
        loop {
            if self.offer(conn, ended)? {
                break; // plaintext left over: the connection is full
            }
            if wire.is_empty() {
                break;
            }
            let n = self.tls.read_tls(&mut wire)?;
            if let Err(e) = self.tls.process_new_packets() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            if n == 0 {
                break;
            }
        }
        Ok(total - wire.len())
    }

    /// Whether rustls holds plaintext the connection has not taken.
    pub(super) fn holds_plaintext(&mut self) -> bool {
        self.tls
            .process_new_packets()
            .is_ok_and(|state| state.plaintext_bytes_to_read() > 0)
    }

    /// Moves plaintext from rustls into `conn`; returns whether some is
    /// left (the connection had no more room).
    fn offer(&mut self, conn: &mut Connection, ended: &mut bool) -> io::Result<bool> {
        loop {
            let state = self
                .tls
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let left = state.plaintext_bytes_to_read();
            if left == 0 {
                *ended |= state.peer_has_closed();
                return Ok(false);
            }
            let buf = conn.receive_buffer(left.min(RECORD));
            if buf.is_empty() {
                return Ok(true);
            }
            match self.tls.reader().read(buf) {
                Ok(n) => conn.commit_received(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.commit_received(0);
                    return Ok(false);
                }
                Err(e) => {
                    conn.commit_received(0);
                    return Err(e);
                }
            }
        }
    }
}
