//! Heap bytes a connection holds with permessage-deflate, measured with a
//! counting allocator (the figures in the README):
//!
//! ```text
//! cargo test --release --test deflate_memory -- --nocapture
//! ```
//!
//! One test in this binary, so no other test allocates meanwhile.
#![cfg(feature = "deflate")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use bytes::Buf;
use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::{Agreement, Config, Connection, Event, Role};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::SeqCst) + by;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only a
// counter is updated beside it.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// A connection in `role` with permessage-deflate agreed as `params`.
fn deflating(role: Role, config: Config, params: DeflateParams) -> Connection {
    Connection::from_agreement(Agreement::new(role).with_deflate(Some(params)), config)
}

/// Heap bytes one server connection holds: (idle before any message, after
/// one compressed message each way).
fn measure(params: DeflateParams) -> (isize, isize) {
    let config = Config::default().deflate(DeflateConfig::default());
    let mut peer = deflating(Role::Client, config.clone(), params);
    let text = "a compressible message, ".repeat(200);

    // The peer's bytes are made first: its compressor is not counted.
    peer.send_text(&text).unwrap();
    let wire = peer.output().take_all();

    let before = live();
    let mut server = deflating(Role::Server, config, params);
    let idle = live() - before;

    assert_eq!(server.receive(&wire), wire.len());
    let Ok(Some(Event::Message(message))) = server.poll_event() else {
        panic!("no message");
    };
    server.send(&message).unwrap();
    drop(message);
    // Written out (all of it, every chunk), without a copy that would count.
    let n = server.output_len();
    server.output().advance(n);
    assert!(!server.wants_write());
    let busy = live() - before;
    drop(server);
    (idle, busy)
}

#[test]
fn bytes_held_per_connection() {
    let p = |takeover: bool, bits: u8| DeflateParams {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: !takeover,
        server_max_window_bits: Some(bits),
        client_max_window_bits: bits,
    };
    let rows = [
        ("context takeover, 15-bit windows", p(true, 15)),
        ("context takeover, 9-bit windows", p(true, 9)),
        ("no context takeover, 15-bit windows", p(false, 15)),
    ];
    let mut figures = Vec::new();
    for (name, params) in rows {
        let (idle, busy) = measure(params);
        println!("{name}: {idle} bytes before the first message, {busy} after one each way");
        figures.push((idle, busy));
    }
    // No state before the first compressed message.
    for &(idle, _) in &figures {
        assert!(idle < 1024, "idle connection holds {idle} bytes");
    }
    // No context takeover: nothing kept after the messages. The states are
    // lent by the process-wide pool for one message and given back: the
    // connections of the rows before (and this row's peer) left theirs
    // there, so this connection allocates none either; a process's first
    // compressed messages leave one compressor (371 KiB) and one
    // decompressor (46 KiB) in the pool, shared by every connection.
    assert!(figures[2].1 < 1024, "{} bytes kept", figures[2].1);
    // Context takeover keeps zlib's state: bounded by the window sizes.
    assert!(figures[0].1 < 512 << 10, "{} bytes", figures[0].1);
    assert!(figures[1].1 < figures[0].1, "smaller windows hold less");

    // A decompression bomb costs at most about the message limit: 64 MiB of
    // zeros (64 KiB on the wire) against a 1 MiB limit.
    let bomb = {
        let mut sender = deflating(Role::Server, Config::default(), DeflateParams::default());
        sender.send_binary(&vec![0u8; 64 << 20]).unwrap();
        sender.output().take_all()
    };
    let limit = 1 << 20;
    let mut client = deflating(
        Role::Client,
        Config::default().max_message_size(limit),
        DeflateParams::default(),
    );
    let start = live();
    PEAK.store(start, Ordering::SeqCst);
    let mut failed = false;
    for piece in bomb.chunks(8192) {
        assert_eq!(client.receive(piece), piece.len(), "under the input bound");
        if client.poll_event().is_err() {
            failed = true;
            break;
        }
    }
    let peak = PEAK.load(Ordering::SeqCst) - start;
    println!(
        "decompression bomb ({} wire bytes, 64 MiB inflated) against a 1 MiB limit: peak {peak} bytes",
        bomb.len()
    );
    assert!(failed, "the bomb was not stopped");
    assert!(peak < limit as isize + (128 << 10), "peak {peak} bytes");
}
