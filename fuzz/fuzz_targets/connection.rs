//! A whole connection, server or client, fed a script of API calls and raw
//! stream bytes in arbitrary reads; see `rfc6455_fuzz::driver` for what is
//! checked after every step and `rfc6455_fuzz::script` for the input format.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rfc6455_fuzz::script::run_connection(data));
