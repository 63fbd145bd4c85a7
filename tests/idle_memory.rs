//! What an idle connection keeps on the heap after traffic, measured with a
//! counting allocator: "nothing large is allocated until a payload needs
//! it", and nothing large is kept once it was handed out. Single test per
//! binary: the counter is process-wide.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::{client_frame, take_output};
use rfc6455::{Config, Connection, Event, Role};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a
// counter is updated beside it.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn an_idle_connection_keeps_no_read_or_write_buffer_of_a_past_message() {
    for size in [200, 5_000, 30_000, 130_000, 250_000, 1_000_000] {
        let mut server = Connection::new(Role::Server, Config::default());
        let before = LIVE.load(Ordering::SeqCst);
        // One binary message of `size` bytes, read in 64 KiB pieces as a
        // socket delivers it, echoed and written out, then dropped.
        let frame = client_frame(true, 0x2, &vec![9u8; size]);
        let mut rest = &frame[..];
        while !rest.is_empty() {
            let piece = &rest[..rest.len().min(64 * 1024)];
            let taken = server.receive(piece);
            rest = &rest[taken..];
            while let Some(event) = server.poll_event().unwrap() {
                let Event::Message(message) = event else {
                    panic!("{event:?}")
                };
                server.send(&message).unwrap();
            }
        }
        drop(take_output(&mut server));
        drop(frame);
        assert_eq!(server.poll_event(), Ok(None));
        let kept = LIVE.load(Ordering::SeqCst) - before;
        // The output buffer keeps a small allocation for the next message
        // (its KEEP_CAPACITY); a read buffer of a split-off payload is
        // released.
        assert!(
            kept <= 6 * 1024,
            "after one {size}-byte message an idle connection keeps {kept} heap bytes"
        );
        eprintln!("{size:>9} B message: {kept} B kept");
    }
}
