//! Writes connection inputs by hand: the inverse of what `arbitrary`'s
//! derive reads (integers little-endian, `bool` as one byte, an enum as a
//! 4-byte tag `t` with variant `(t * count) >> 32`), checked by decoding
//! every input written back (see `check`).

use arbitrary::Unstructured;

use crate::deflate::DeflateSetup;
use crate::script::{DeflateSpec, Flow, FrameSpec, Op, Payload, Setup, Tick};

pub trait Encode {
    fn encode(&self, out: &mut Vec<u8>);
}

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Encode for u8 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
}

impl Encode for u16 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// The smallest tag that `arbitrary` reads as variant `index` of `count`.
fn tag(index: u64, count: u64, out: &mut Vec<u8>) {
    let t = (index << 32).div_ceil(count);
    out.extend_from_slice(&(t as u32).to_le_bytes());
}

macro_rules! fields {
    ($out:ident; $($f:expr),*) => { $( $f.encode($out); )* };
}

impl Encode for Setup {
    fn encode(&self, out: &mut Vec<u8>) {
        fields!(out; self.client, self.auto_pong, self.max_frame, self.max_message, self.chunk, self.eof, self.echo);
        self.deflate.encode(out);
        self.flow.encode(out);
    }
}

impl Encode for Flow {
    fn encode(&self, out: &mut Vec<u8>) {
        fields!(out; self.input_high_water, self.output_high_water, self.ping_after, self.ping_timeout, self.close_timeout, self.write_timeout, self.max_frames, self.message_timeout);
    }
}

impl Encode for Tick {
    fn encode(&self, out: &mut Vec<u8>) {
        fields!(out; self.ms, self.unit, self.back);
    }
}

impl Encode for DeflateSetup {
    fn encode(&self, out: &mut Vec<u8>) {
        fields!(out; self.on, self.server_bits, self.client_bits, self.flags, self.own_bits, self.level, self.threshold);
    }
}

impl Encode for DeflateSpec {
    fn encode(&self, out: &mut Vec<u8>) {
        fields!(out; self.text, self.source, self.len, self.frames, self.cuts, self.flush, self.window, self.level, self.damage, self.at, self.pings, self.split);
    }
}

impl Encode for FrameSpec {
    fn encode(&self, out: &mut Vec<u8>) {
        fields!(out; self.fin, self.rsv, self.opcode, self.mask, self.len);
        self.payload.encode(out);
        fields!(out; self.split, self.quirks);
    }
}

impl Encode for Payload {
    fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Payload::Text => tag(0, 4, out),
            Payload::Bytes { seed } => {
                tag(1, 4, out);
                fields!(out; seed);
            }
            Payload::Corrupt { at, byte } => {
                tag(2, 4, out);
                fields!(out; at, byte);
            }
            Payload::Close { code, reason_len } => {
                tag(3, 4, out);
                fields!(out; code, reason_len);
            }
        }
    }
}

impl Encode for Op {
    fn encode(&self, out: &mut Vec<u8>) {
        const N: u64 = 16;
        match *self {
            Op::Receive { len } => {
                tag(0, N, out);
                fields!(out; len);
            }
            Op::ReceiveLent { lend, commit } => {
                tag(1, N, out);
                fields!(out; lend, commit);
            }
            Op::LendOnly { lend } => {
                tag(2, N, out);
                fields!(out; lend);
            }
            Op::Frame(spec) => {
                tag(3, N, out);
                spec.encode(out);
            }
            Op::ReceiveEof => tag(4, N, out),
            Op::SendText { len, fragment, fin } => {
                tag(5, N, out);
                fields!(out; len, fragment, fin);
            }
            Op::SendBinary {
                len,
                big,
                fragment,
                fin,
            } => {
                tag(6, N, out);
                fields!(out; len, big, fragment, fin);
            }
            Op::Ping { len } => {
                tag(7, N, out);
                fields!(out; len);
            }
            Op::Pong { len } => {
                tag(8, N, out);
                fields!(out; len);
            }
            Op::Close { code, reason_len } => {
                tag(9, N, out);
                fields!(out; code, reason_len);
            }
            Op::Advance { n } => {
                tag(10, N, out);
                fields!(out; n);
            }
            Op::AdvanceAll => tag(11, N, out),
            Op::Deflated(spec) => {
                tag(12, N, out);
                spec.encode(out);
            }
            Op::ReceiveOwned { lend, mode } => {
                tag(13, N, out);
                fields!(out; lend, mode);
            }
            Op::Time(tick) => {
                tag(14, N, out);
                tick.encode(out);
            }
            Op::KeepReadBuffer { keep } => {
                tag(15, N, out);
                fields!(out; keep);
            }
        }
    }
}

/// A `connection` input: setup, op count, ops, raw tail.
pub fn connection_input(setup: &Setup, ops: &[Op], tail: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    setup.encode(&mut out);
    (ops.len() as u8).encode(&mut out);
    for op in ops {
        op.encode(&mut out);
    }
    out.extend_from_slice(tail);
    check(&out, setup, ops, Some(tail));
    out
}

/// A `connection_frames` input: setup, then ops.
pub fn frames_input(setup: &Setup, ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    setup.encode(&mut out);
    for op in ops {
        op.encode(&mut out);
    }
    check(&out, setup, ops, None);
    out
}

/// Decodes `input` the way the targets do and insists on what was meant.
fn check(input: &[u8], setup: &Setup, ops: &[Op], tail: Option<&[u8]>) {
    let mut u = Unstructured::new(input);
    assert_eq!(&u.arbitrary::<Setup>().unwrap(), setup);
    if tail.is_some() {
        assert_eq!(u.arbitrary::<u8>().unwrap() as usize, ops.len());
    }
    for op in ops {
        assert_eq!(
            &u.arbitrary::<Op>().unwrap(),
            op,
            "the encoding drifted from arbitrary's"
        );
    }
    assert_eq!(u.take_rest(), tail.unwrap_or_default());
}
