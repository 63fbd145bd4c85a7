//! permessage-deflate negotiation (RFC 7692 §5, §7.1) on arbitrary offers
//! and responses: the server's choice (`negotiate`, `UpgradeRequest::deflate`)
//! and the client's check (`ClientHandshake::parse_response`) against a
//! reading of the RFC in `rfc6455_fuzz::negotiate`. Never panics; the
//! server's answer passes the client's check of the offer it answers, with
//! the same agreement on both sides, and that agreement carries messages.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rfc6455_fuzz::negotiate::run(data));
