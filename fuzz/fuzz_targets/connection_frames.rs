//! Like `connection`, but bytes arrive only as frames built from a spec
//! (FIN, RSV, any 4-bit opcode, mask, payload, where the reads split it), so
//! every input is past the framing layer and the fuzzer spends its time on
//! fragmentation, control frames, UTF-8, limits and the close handshake.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rfc6455_fuzz::script::run_frames(data));
