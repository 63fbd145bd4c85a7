//! One `MemoryBudget` for the whole process (issue 16, finding 3) in the
//! servers whose messages are small: `chat_server`, `axum_chat` (64 KiB
//! messages) and `vote_server` (4 KiB). tests/origin_examples.rs checks the
//! echo servers with two connections holding 640 KiB each; a chat or vote
//! client cannot hold that much, so here as many clients as it takes each
//! hold an unfinished text message just under the example's message limit,
//! with `--memory-budget-mib 1`:
//!
//! * clients are let in while their messages fit in the budget together
//!   (each checked by a ping answered after its fragments), and the first
//!   one they no longer fit is closed with 1013 (try again later), at about
//!   1 MiB divided by what each holds, not at the per-connection limit;
//! * those holding stay open;
//! * once one holder leaves, its charge comes back and a newcomer fits.
#![cfg(target_os = "linux")]

mod app_harness;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use app_harness::Server;

/// `--memory-budget-mib 1`.
const BUDGET: usize = 1 << 20;

/// A masked client frame (mask key 0: the payload goes as it is).
fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    if payload.len() < 126 {
        out.push(0x80 | payload.len() as u8);
    } else {
        assert!(payload.len() < 1 << 16);
        out.push(0x80 | 126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(payload);
    out
}

/// The next server frame (unmasked): opcode and payload; `None` once the
/// server ended the connection.
fn read_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0; 2];
    stream.read_exact(&mut header).ok()?;
    let len = match header[1] & 0x7f {
        126 => {
            let mut ext = [0; 2];
            stream.read_exact(&mut ext).ok()?;
            usize::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0; 8];
            stream.read_exact(&mut ext).ok()?;
            usize::try_from(u64::from_be_bytes(ext)).ok()?
        }
        n => usize::from(n),
    };
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload).ok()?;
    Some((header[0] & 0x0f, payload))
}

/// What became of a client's unfinished message.
#[derive(Debug, PartialEq)]
enum Held {
    /// The server took its fragments and answered the ping after them.
    Yes,
    /// The server closed the connection with this code instead.
    Closed(Option<u16>),
}

/// Sends `fragments` (the start of one text message that never ends),
/// then a ping; reads until its pong or a close. The other frames the
/// server sends meanwhile (a welcome, join notices, counts) are skipped.
fn hold(stream: &mut TcpStream, fragments: &[Vec<u8>], tag: u32) -> Held {
    let mut out = Vec::new();
    for fragment in fragments {
        out.extend_from_slice(fragment);
    }
    out.extend_from_slice(&frame(0x9, true, &tag.to_be_bytes()));
    match stream.write_all(&out) {
        Ok(()) => {}
        // Closed part-way through the writes: its close frame is read
        // all the same.
        Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {}
        Err(e) => panic!("write: {e}"),
    }
    loop {
        match read_frame(stream) {
            Some((0xA, payload)) if payload == tag.to_be_bytes() => return Held::Yes,
            Some((0x8, payload)) => {
                return Held::Closed(
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
                );
            }
            Some(_) => {}
            None => return Held::Closed(None),
        }
    }
}

/// The fragments of one unfinished text message of `fragments` times
/// `size` bytes of `x`: the first a text frame, the others continuations,
/// none final.
fn unfinished(fragments: usize, size: usize) -> Vec<Vec<u8>> {
    let chunk = vec![b'x'; size];
    (0..fragments)
        .map(|i| frame(if i == 0 { 0x1 } else { 0x0 }, false, &chunk))
        .collect()
}

/// The test for `example`, each client holding `fragments` x `size` bytes.
fn budget_is_shared(example: &str, fragments: usize, size: usize) {
    let server = Server::start(example, &["--memory-budget-mib", "1"]);
    let message = unfinished(fragments, size);
    let per_client = fragments * size;
    let fits = BUDGET / per_client;
    let mut holders = Vec::new();
    let refused = loop {
        let n = holders.len();
        assert!(
            n <= fits + 1,
            "{example}: {n} clients hold {per_client} bytes each, over the 1 MiB budget"
        );
        let mut client = server.upgraded(&format!("?name=holder{n}"));
        match hold(&mut client, &message, n as u32) {
            Held::Yes => holders.push(client),
            Held::Closed(code) => break code,
        }
    };
    let held = holders.len();
    eprintln!(
        "{example}: {held} clients held {per_client} bytes each ({} KiB) under a 1 MiB budget; \
         the next was closed with {refused:?}",
        (held * per_client) >> 10
    );
    assert_eq!(refused, Some(1013), "{example}: the client past the budget");
    // What the budget holds besides the messages (a frame being decoded)
    // may cost a client or two; far fewer than the budget would be wrong.
    assert!(
        held + 2 >= fits,
        "{example}: only {held} of {fits} clients fitted"
    );
    // The holders are still open and answered.
    for (i, client) in holders.iter_mut().enumerate().rev().take(3) {
        assert_eq!(
            hold(client, &[], 1_000_000 + i as u32),
            Held::Yes,
            "{example}: holder {i}"
        );
    }
    // One leaves: its charge comes back, and a newcomer fits again.
    drop(holders.remove(0));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let mut client = server.upgraded(&format!("?name=late{attempt}"));
        match hold(&mut client, &message, 2_000_000 + attempt) {
            Held::Yes => break,
            Held::Closed(code) if Instant::now() < deadline => {
                assert_eq!(code, Some(1013), "{example}: a newcomer");
                std::thread::sleep(Duration::from_millis(100));
            }
            Held::Closed(code) => {
                panic!("{example}: the leaver's charge never came back ({code:?})")
            }
        }
    }
}

#[test]
fn chat_server_members_share_one_budget() {
    // 2 x 30,000 bytes: under the 64 KiB message limit.
    budget_is_shared("chat_server", 2, 30_000);
}

#[test]
fn axum_chat_members_share_one_budget() {
    budget_is_shared("axum_chat", 2, 30_000);
}

#[test]
fn vote_server_pages_share_one_budget() {
    // 2 x 2,000 bytes: under the 4 KiB message limit; about 260 clients.
    budget_is_shared("vote_server", 2, 2_000);
}
