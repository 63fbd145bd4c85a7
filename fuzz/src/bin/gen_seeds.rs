//! Writes the seed corpora under fuzz/seeds/<target>/ from real captures
//! (fuzz/tools/captures/, made by the capture scripts there), the RFC 6455
//! examples and hand-written scripts. Run from anywhere:
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --features gen --bin gen_seeds
//!
//! It rewrites every file it owns and leaves other files (crash-* seeds)
//! alone.

use std::fs;
use std::path::{Path, PathBuf};

use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::handshake::{Limits, Parsed, UpgradeRequest};
use rfc6455::{Agreement, Config, Connection, Role};
use rfc6455_fuzz::deflate::{DeflateSetup, Flush, Sender};
use rfc6455_fuzz::script::{DeflateSpec, Flow, FrameSpec, Op, Payload, Setup, Tick};
use rfc6455_fuzz::seed::{connection_input, frames_input};
use rfc6455_fuzz::wire::build_frame;

/// The masking key of RFC 6455 §5.7.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

struct Out {
    root: PathBuf,
}

impl Out {
    fn write(&self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), bytes).unwrap();
    }
}

fn capture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tools/captures")
        .join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn crlf(lines: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    for line in lines {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    build_frame(fin, 0, opcode, Some(KEY), payload, false)
}

fn unmasked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    build_frame(fin, 0, opcode, None, payload, false)
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

fn setup(client: bool, chunk: u8) -> Setup {
    Setup {
        client,
        auto_pong: true,
        max_frame: 4096,
        max_message: 16384,
        chunk,
        eof: true,
        echo: true,
        deflate: DeflateSetup::default(),
        flow: Flow::DEFAULT,
    }
}

/// permessage-deflate agreed with no parameters (context takeover, 15-bit
/// windows), level 6, threshold 16: what Chromium and a default server agree.
const DEFLATE_DEFAULT: DeflateSetup = DeflateSetup {
    on: 0xFF,
    server_bits: 7,
    client_bits: 7,
    flags: 0,
    own_bits: 7,
    level: 6,
    threshold: 16,
};

/// Python websockets' server answer: 12-bit windows both ways.
const DEFLATE_WEBSOCKETS: DeflateSetup = DeflateSetup {
    server_bits: 4,
    client_bits: 4,
    ..DEFLATE_DEFAULT
};

/// No context takeover either way, 9-bit windows, level 1, threshold 0.
const DEFLATE_SMALL: DeflateSetup = DeflateSetup {
    server_bits: 1,
    client_bits: 1,
    flags: 3,
    own_bits: 1,
    level: 1,
    threshold: 0,
    ..DEFLATE_DEFAULT
};

fn deflate_setup(client: bool, chunk: u8, deflate: DeflateSetup) -> Setup {
    Setup {
        deflate,
        ..setup(client, chunk)
    }
}

fn deflated(text: bool, len: u16, frames: u8, flush: u8) -> DeflateSpec {
    DeflateSpec {
        text,
        source: 0,
        len,
        frames,
        cuts: 0x1234,
        flush,
        window: 7,
        level: 6,
        damage: 0,
        at: 0,
        pings: 0,
        split: 5,
    }
}

fn spec(fin: bool, opcode: u8, len: u16, payload: Payload) -> FrameSpec {
    FrameSpec {
        fin,
        rsv: 0,
        opcode,
        mask: 2,
        len,
        payload,
        split: 3,
        quirks: 0,
    }
}

fn main() {
    let out = Out {
        root: Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds"),
    };

    // ---- frames, as they appear on the wire --------------------------------
    let big = |len: usize| (0..len).map(|i| i as u8).collect::<Vec<u8>>();
    let chromium_frames = capture("chromium-frames.bin");
    let websockets_frames = capture("websockets-frames.bin");
    let frames: Vec<(&str, Vec<u8>)> = vec![
        // §5.7 examples.
        ("rfc-hello-unmasked", unmasked(true, 1, b"Hello")),
        ("rfc-hello-masked", masked(true, 1, b"Hello")),
        (
            "rfc-fragments-hel-lo-unmasked",
            [unmasked(false, 1, b"Hel"), unmasked(true, 0, b"lo")].concat(),
        ),
        (
            "rfc-fragments-hel-lo-masked",
            [masked(false, 1, b"Hel"), masked(true, 0, b"lo")].concat(),
        ),
        (
            "rfc-ping-pong-unmasked",
            [unmasked(true, 9, b"Hello"), unmasked(true, 10, b"Hello")].concat(),
        ),
        (
            "rfc-ping-pong-masked",
            [masked(true, 9, b"Hello"), masked(true, 10, b"Hello")].concat(),
        ),
        (
            "close-1000-reason-unmasked",
            unmasked(true, 8, &close_payload(1000, "bye")),
        ),
        (
            "close-1000-reason-masked",
            masked(true, 8, &close_payload(1000, "bye")),
        ),
        ("len126-256-unmasked", unmasked(true, 2, &big(256))),
        ("len126-256-masked", masked(true, 2, &big(256))),
        ("len127-64k-unmasked", unmasked(true, 2, &big(65536))),
        ("len127-64k-masked", masked(true, 2, &big(65536))),
        // Real traffic: what headless Chromium sent ("Hello", 200 bytes of
        // text, 64 KiB binary, close 1000 "bye"), what the Python
        // `websockets` server answered (pong, "Hello" twice, close).
        ("chromium-client-frames", chromium_frames.clone()),
        ("websockets-server-frames", websockets_frames.clone()),
    ];
    for (name, bytes) in &frames {
        // The header target reads at most 14 bytes; keep a little payload.
        out.write("frame_header", name, &bytes[..bytes.len().min(24)]);
        let masked =
            name.contains("masked") && !name.contains("unmasked") || name.starts_with("chromium");
        // Server role reads masked frames, client role unmasked ones.
        let chunked = if bytes.len() > 1000 { 200 } else { 0 };
        out.write(
            "connection",
            name,
            &connection_input(&setup(!masked, chunked), &[], bytes),
        );
    }
    // The same stream, one byte per read, and all at once.
    out.write(
        "connection",
        "chromium-client-frames-bytewise",
        &connection_input(&setup(false, 1), &[], &chromium_frames),
    );
    out.write(
        "connection",
        "websockets-server-frames-whole",
        &connection_input(&setup(true, 0), &[], &websockets_frames),
    );

    // ---- mask: key, offset (LE), alignment, cut, payload --------------------
    let mut m = KEY.to_vec();
    m.extend_from_slice(&[0, 0, 0, 2]);
    m.extend_from_slice(&[0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    out.write("mask", "rfc-hello", &m);
    let mut m = KEY.to_vec();
    m.extend_from_slice(&[3, 0, 5, 77]);
    m.extend_from_slice(&big(300));
    out.write("mask", "offset3-align5-300", &m);

    // ---- handshake requests ---------------------------------------------------
    let chromium = capture("chromium-request.http");
    out.write("handshake_request", "chromium-headless-capture", &chromium);
    out.write(
        "handshake_request",
        "chromium-capture-then-frame",
        &[chromium.clone(), masked(true, 1, b"Hello")].concat(),
    );
    let chrome = crlf(&[
        "GET /chat HTTP/1.1",
        "Host: localhost:8080",
        "Connection: Upgrade",
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Upgrade: websocket",
        "Origin: http://localhost:8080",
        "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br, zstd",
        "Accept-Language: en-US,en;q=0.9",
        "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    ]);
    out.write("handshake_request", "chrome", &chrome);
    let firefox = crlf(&[
        "GET /chat?room=1&name=J%C3%BCrgen+M HTTP/1.1",
        "Host: localhost:8080",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Accept: */*",
        "Accept-Language: en-US,en;q=0.5",
        "Accept-Encoding: gzip, deflate, br, zstd",
        "Sec-WebSocket-Version: 13",
        "Origin: http://localhost:8080",
        "Sec-WebSocket-Extensions: permessage-deflate",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Connection: keep-alive, Upgrade",
        "Sec-Fetch-Dest: empty",
        "Sec-Fetch-Mode: websocket",
        "Sec-Fetch-Site: same-origin",
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        "Upgrade: websocket",
    ]);
    out.write("handshake_request", "firefox", &firefox);
    let rfc = crlf(&[
        "GET /chat HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Version: 13",
    ]);
    out.write("handshake_request", "rfc-1.3", &rfc);
    let text = |s: &[u8]| String::from_utf8(s.to_vec()).unwrap();
    let variants = [
        ("post-405", text(&rfc).replace("GET", "POST")),
        ("http10-505", text(&rfc).replace("HTTP/1.1", "HTTP/1.0")),
        (
            "version8-426",
            text(&rfc).replace("Version: 13", "Version: 8"),
        ),
        (
            "absolute-form-target",
            text(&rfc).replace("GET /chat", "GET http://server.example.com/chat?x=%41"),
        ),
        (
            "bad-key-400",
            text(&rfc).replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ="),
        ),
        (
            "two-hosts-400",
            text(&rfc).replace("Host: server.example.com", "Host: a\r\nHost: b"),
        ),
        (
            "plain-get",
            "GET / HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\n\r\n".into(),
        ),
        (
            "quoted-extension",
            text(&rfc).replace(
                "Origin",
                "Sec-WebSocket-Extensions: x; a=\"1,2\", y\r\nOrigin",
            ),
        ),
    ];
    for (name, request) in variants {
        out.write("handshake_request", name, request.as_bytes());
    }

    // ---- handshake responses ------------------------------------------------
    let websockets = capture("websockets-response.http");
    out.write("handshake_response", "websockets-capture", &websockets);
    out.write(
        "handshake_response",
        "websockets-capture-then-frames",
        &[websockets, websockets_frames.clone()].concat(),
    );
    let rfc_response = crlf(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "Sec-WebSocket-Protocol: chat",
    ]);
    out.write("handshake_response", "rfc-1.3", &rfc_response);
    let deflate = text(&rfc_response).replace(
        "Protocol: chat",
        "Extensions: permessage-deflate; client_max_window_bits=15",
    );
    out.write(
        "handshake_response",
        "permessage-deflate",
        deflate.as_bytes(),
    );
    // What this crate's own server answers to the §1.3 request and to bad ones.
    let Ok(Parsed::Complete(up, _)) = UpgradeRequest::parse(&rfc, &Limits::default()) else {
        panic!()
    };
    out.write(
        "handshake_response",
        "own-accept",
        &up.accept(Some("chat")).unwrap(),
    );
    for (name, request) in [("own-426", "version8-426"), ("own-405", "post-405")] {
        let bytes = fs::read(out.root.join("handshake_request").join(request)).unwrap();
        let Err(rejection) = UpgradeRequest::parse(&bytes, &Limits::default()) else {
            panic!()
        };
        out.write("handshake_response", name, &rejection.response());
    }

    // ---- connection scripts ---------------------------------------------------
    // A server: hello arrives, it answers, pings, closes; the client's close
    // reply arrives as raw bytes.
    let ops = [
        Op::Receive { len: 11 },
        Op::SendText {
            len: 5,
            fragment: false,
            fin: true,
        },
        Op::Ping { len: 4 },
        Op::Advance { n: 3 },
        Op::Close {
            code: 0,
            reason_len: 3,
        },
        Op::AdvanceAll,
    ];
    let tail = [
        masked(true, 1, b"Hello"),
        masked(true, 8, &close_payload(1000, "")),
    ]
    .concat();
    out.write(
        "connection",
        "script-server-close-handshake",
        &connection_input(&setup(false, 0), &ops, &tail),
    );
    // A client: sends a fragmented text and binary, a pong, reads the
    // server's frames through receive_buffer, sees EOF.
    let ops = [
        Op::SendText {
            len: 7,
            fragment: true,
            fin: false,
        },
        Op::Pong { len: 2 },
        Op::SendText {
            len: 9,
            fragment: true,
            fin: true,
        },
        Op::SendBinary {
            len: 300,
            big: false,
            fragment: false,
            fin: true,
        },
        Op::ReceiveLent {
            lend: 64,
            commit: 20,
        },
        Op::LendOnly { lend: 9 },
        Op::ReceiveLent {
            lend: 64,
            commit: 64,
        },
        Op::ReceiveEof,
    ];
    out.write(
        "connection",
        "script-client-fragments",
        &connection_input(&setup(true, 0), &ops, &websockets_frames),
    );

    // ---- connection_frames scripts -------------------------------------------
    let hel = spec(false, 1, 3, Payload::Text);
    let lo = spec(true, 0, 2, Payload::Text);
    let ping = spec(true, 4, 4, Payload::Bytes { seed: 1 });
    let close = spec(
        true,
        3,
        0,
        Payload::Close {
            code: 0,
            reason_len: 3,
        },
    );
    for (client, name) in [(false, "server"), (true, "client")] {
        let ops = [
            Op::Frame(hel),
            Op::Frame(ping),
            Op::Frame(lo),
            Op::AdvanceAll,
            Op::Frame(close),
        ];
        out.write(
            "connection_frames",
            &format!("{name}-fragments-ping-close"),
            &frames_input(&setup(client, 0), &ops),
        );
        let ops = [
            Op::Frame(spec(false, 2, 1000, Payload::Bytes { seed: 7 })),
            Op::Frame(spec(false, 0, 1000, Payload::Bytes { seed: 8 })),
            Op::Close {
                code: 1,
                reason_len: 0,
            },
            Op::Frame(spec(true, 0, 10, Payload::Bytes { seed: 9 })),
            Op::Frame(spec(true, 5, 0, Payload::Text)),
            Op::Frame(close),
        ];
        out.write(
            "connection_frames",
            &format!("{name}-local-close-first"),
            &frames_input(&setup(client, 0), &ops),
        );
        let ops = [
            Op::Frame(spec(false, 1, 100, Payload::Text)),
            Op::Frame(spec(false, 0, 101, Payload::Text)),
            Op::Frame(spec(true, 0, 103, Payload::Corrupt { at: 50, byte: 0xC0 })),
        ];
        out.write(
            "connection_frames",
            &format!("{name}-text-invalid-utf8"),
            &frames_input(&setup(client, 0), &ops),
        );
    }
    deflate_seeds(&out);
    flow_seeds(&out);
    println!("seeds written under {}", out.root.display());
}

/// An RFC 7692 frame (RSV1 on the first) towards a receiver: masked
/// (with the §5.7 key) for a server, unmasked for a client.
fn pmd_frame(to_server: bool, fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let rsv = if rsv1 { 0b100 } else { 0 };
    build_frame(fin, rsv, opcode, to_server.then_some(KEY), payload, false)
}

/// What our own `Connection` sends with `params`: text, binary, a
/// fragmented text with a ping between, one more text (context takeover).
fn own_compressed(client: bool, params: DeflateParams) -> Vec<u8> {
    let role = if client { Role::Client } else { Role::Server };
    let config = Config::default().deflate(DeflateConfig::default());
    let agreement = Agreement::new(role).with_deflate(Some(params));
    let mut conn = Connection::from_agreement_with_mask_source(agreement, config, |b| b.fill(0x5A));
    let text = "permessage-deflate: Hello, κόσμε! €😀 ".repeat(20);
    conn.send_text(&text).unwrap();
    conn.send_binary(&[7u8; 300]).unwrap();
    conn.send_text_fragment(&text[..100], false).unwrap();
    conn.ping(b"between").unwrap();
    conn.send_text_fragment(&text[100..], true).unwrap();
    conn.send_text(&text).unwrap();
    conn.output().take_all()
}

fn deflate_seeds(out: &Out) {
    // ---- connection: RFC 7692 §7.2.3 frames, raw, both roles -----------------
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    for (to_server, role) in [(true, "server"), (false, "client")] {
        let f = |fin, rsv1, op, p: &[u8]| pmd_frame(to_server, fin, rsv1, op, p);
        let streams: Vec<(&str, Vec<u8>)> = vec![
            // §7.2.3.1: "Hello" in one frame, and as "Hel" + "lo" fragments.
            ("rfc7692-hello", f(true, true, 1, &hello)),
            (
                "rfc7692-hello-fragments",
                [
                    f(false, true, 1, &hello[..3]),
                    f(true, false, 0, &hello[3..]),
                ]
                .concat(),
            ),
            // §7.2.3.2: the second "Hello" uses the first one's window.
            (
                "rfc7692-shared-window",
                [
                    f(true, true, 1, &hello),
                    f(true, true, 1, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
                ]
                .concat(),
            ),
            // §7.2.3.3: a stored (uncompressed) block.
            (
                "rfc7692-stored-block",
                f(
                    true,
                    true,
                    1,
                    &[
                        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
                    ],
                ),
            ),
            // §7.2.3.4: a block with BFINAL set, then a 0x00; then another message.
            (
                "rfc7692-bfinal",
                [
                    f(
                        true,
                        true,
                        1,
                        &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
                    ),
                    f(true, true, 1, &hello),
                ]
                .concat(),
            ),
            // §7.2.3.5: two deflate blocks in one message.
            (
                "rfc7692-two-blocks",
                f(
                    true,
                    true,
                    1,
                    &[
                        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07,
                        0x00,
                    ],
                ),
            ),
            // §7.2.3.6: the final fragment is empty: a single 0x00.
            (
                "rfc7692-empty-final-fragment",
                [
                    f(
                        false,
                        true,
                        1,
                        &[
                            0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff,
                        ],
                    ),
                    f(true, false, 0, &[0x00]),
                ]
                .concat(),
            ),
            // §6: RSV1 on a continuation, and on a ping, is a protocol error.
            (
                "rfc7692-rsv1-on-continuation",
                [
                    f(false, true, 1, &hello[..3]),
                    f(true, true, 0, &hello[3..]),
                ]
                .concat(),
            ),
            ("rfc7692-rsv1-on-ping", f(true, true, 9, b"p")),
        ];
        for (name, bytes) in streams {
            let name = format!("{name}-to-{role}");
            out.write(
                "connection",
                &name,
                &connection_input(&deflate_setup(!to_server, 3, DEFLATE_DEFAULT), &[], &bytes),
            );
            out.write("frame_header", &name, &bytes[..bytes.len().min(24)]);
        }
        // What our own peer sends, with defaults and with small windows.
        for (tag, setup, params) in [
            ("default", DEFLATE_DEFAULT, DEFLATE_DEFAULT.params()),
            ("small", DEFLATE_SMALL, DEFLATE_SMALL.params()),
        ] {
            let stream = own_compressed(to_server, params.unwrap());
            out.write(
                "connection",
                &format!("own-compressed-{tag}-to-{role}"),
                &connection_input(&deflate_setup(!to_server, 0, setup), &[], &stream),
            );
        }
        // Python websockets' 12-bit windows, compressed by flate2 as it does.
        let mut sender = Sender::new(
            if to_server {
                Role::Server
            } else {
                Role::Client
            },
            &DEFLATE_WEBSOCKETS.params().unwrap(),
        );
        let text = "websockets permessage-deflate ".repeat(30);
        let mut stream = Vec::new();
        for _ in 0..3 {
            let payload = sender
                .compress(&[text.as_bytes()], Flush::Sync, 3, 6, false)
                .remove(0);
            stream.extend(f(true, true, 1, &payload));
        }
        out.write(
            "connection",
            &format!("websockets-12-bit-to-{role}"),
            &connection_input(
                &deflate_setup(!to_server, 7, DEFLATE_WEBSOCKETS),
                &[],
                &stream,
            ),
        );
    }

    // ---- connection_frames: compressed messages -------------------------------
    for (client, name) in [(false, "server"), (true, "client")] {
        let mut bomb = deflated(false, 2, 5, 0);
        bomb.source = 0xF0;
        let mut corrupt = deflated(true, 300, 2, 0);
        corrupt.damage = 0xC0;
        corrupt.at = 0x4005;
        let mut pinged = deflated(true, 1500, 3, 0);
        pinged.pings = 0b11;
        let mut bad_text = deflated(true, 200, 1, 0);
        bad_text.source = 0xA0;
        bad_text.at = 0xC050;
        let scripts: Vec<(&str, DeflateSetup, Vec<Op>)> = vec![
            (
                "deflate-messages-context-takeover",
                DEFLATE_DEFAULT,
                vec![
                    Op::Deflated(deflated(true, 100, 0, 0)),
                    Op::Deflated(deflated(true, 100, 0, 0)),
                    Op::Deflated(deflated(false, 2000, 2, 0)),
                    Op::SendText {
                        len: 300,
                        fragment: false,
                        fin: true,
                    },
                    Op::AdvanceAll,
                    Op::Deflated(pinged),
                ],
            ),
            (
                "deflate-flush-modes",
                DEFLATE_WEBSOCKETS,
                (0..8)
                    .map(|flush| Op::Deflated(deflated(flush % 2 == 0, 400, flush, flush)))
                    .collect(),
            ),
            (
                "deflate-no-context-takeover-small-windows",
                DEFLATE_SMALL,
                vec![
                    Op::Deflated(deflated(true, 3000, 3, 3)),
                    Op::SendBinary {
                        len: 1000,
                        big: false,
                        fragment: true,
                        fin: false,
                    },
                    Op::SendBinary {
                        len: 10,
                        big: false,
                        fragment: true,
                        fin: true,
                    },
                    Op::Deflated(deflated(true, 3000, 0, 0)),
                    Op::AdvanceAll,
                ],
            ),
            (
                "deflate-bomb",
                DEFLATE_DEFAULT,
                vec![Op::Deflated(deflated(true, 10, 0, 0)), Op::Deflated(bomb)],
            ),
            (
                "deflate-corrupt",
                DEFLATE_DEFAULT,
                vec![Op::Deflated(corrupt)],
            ),
            (
                "deflate-invalid-utf8",
                DEFLATE_DEFAULT,
                vec![Op::Deflated(bad_text)],
            ),
        ];
        for (script, deflate, ops) in scripts {
            out.write(
                "connection_frames",
                &format!("{name}-{script}"),
                &frames_input(&deflate_setup(client, 0, deflate), &ops),
            );
        }
    }

    // ---- deflate_negotiate: policy bytes, offers, `--`, a response ------------
    let negotiate = |policy: [u8; 3], offers: &str, response: &str| {
        let mut v = policy.to_vec();
        v.extend_from_slice(offers.as_bytes());
        v.extend_from_slice(b"\n--\n");
        v.extend_from_slice(response.as_bytes());
        v
    };
    let d = [0, 15, 15];
    let seeds = [
        // Chromium (and Node ws, and Python websockets' client) offer this;
        // Python websockets' server answers with 12-bit windows.
        (
            "chromium-offer-websockets-answer",
            d,
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        ),
        (
            "node-ws-offer-answer",
            [0, 12, 10],
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=15",
        ),
        (
            "firefox-offer",
            [3, 9, 9],
            "permessage-deflate",
            "permessage-deflate",
        ),
        // Python wsproto's offer names both windows at 15 (it trips K1).
        (
            "wsproto-offer",
            d,
            "permessage-deflate; client_max_window_bits=15; server_max_window_bits=15",
            "permessage-deflate; client_max_window_bits=15; server_max_window_bits=15",
        ),
        (
            "two-offers-quoted",
            [2, 11, 13],
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=\"10\", x-webkit-deflate-frame\npermessage-deflate; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
        ),
        (
            "invalid-params",
            [0x80, 8, 8],
            "permessage-deflate; server_max_window_bits; client_max_window_bits=08, permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; client_max_window_bits",
        ),
        // K1, minimised: the server answers without server_max_window_bits.
        (
            "crash-k1-server-max-window-bits-15",
            d,
            "permessage-deflate; server_max_window_bits=15",
            "",
        ),
        // K2, minimised: an unbalanced quote in one offer hides the next.
        (
            "crash-k2-unbalanced-quote-hides-offers",
            d,
            "x; a=\"1\npermessage-deflate",
            "",
        ),
    ];
    for (name, policy, offers, response) in seeds {
        out.write(
            "deflate_negotiate",
            name,
            &negotiate(policy, offers, response),
        );
    }
    // The handshake targets get the offers too.
    let offer_request = |ext: &str| {
        crlf(&[
            "GET /chat HTTP/1.1",
            "Host: server.example.com",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
            &format!("Sec-WebSocket-Extensions: {ext}"),
        ])
    };
    out.write(
        "handshake_request",
        "wsproto-deflate-offer",
        &offer_request("permessage-deflate; client_max_window_bits=15; server_max_window_bits=15"),
    );
}

/// A clock step of `ms` in `unit` (see `Tick`): 0 = 1 ms, 1 = 100 ms,
/// 2 = 1 s; `| 0x80` settles.
fn tick(ms: u16, unit: u8) -> Op {
    Op::Time(Tick {
        ms,
        unit,
        back: false,
    })
}

/// `handle_timeout` `ms` milliseconds before the clock, settled first.
fn back(ms: u16) -> Op {
    Op::Time(Tick {
        ms,
        unit: 0x80,
        back: true,
    })
}

/// Scripts about time and flow control: keepalive, the close and write
/// timeouts, the lingering close, backpressure both ways, and the known
/// bug K3 (README.md).
fn flow_seeds(out: &Out) {
    // Ping after 1 s of silence, lost 1 s later; 2 s to close; 1.5 s to write.
    let fast = Flow {
        ping_after: 10,
        ping_timeout: 10,
        close_timeout: 20,
        write_timeout: 15,
        ..Flow::DEFAULT
    };
    // Both high-water marks as low as they go (input: 1 KiB).
    let tight = Flow {
        input_high_water: 0,
        output_high_water: 0,
        ..fast
    };
    let pong = spec(true, 5, 0, Payload::Text);
    let close = spec(
        true,
        3,
        0,
        Payload::Close {
            code: 0,
            reason_len: 3,
        },
    );
    let binary = |len: u16| Op::SendBinary {
        len,
        big: false,
        fragment: false,
        fin: true,
    };
    for (client, name) in [(false, "server"), (true, "client")] {
        let with = |flow: Flow| Setup {
            flow,
            ..setup(client, 0)
        };
        let scripts: Vec<(&str, Flow, Vec<Op>)> = vec![
            (
                // Ping, the pong arrives, ping again, silence: lost.
                "keepalive",
                fast,
                vec![
                    tick(0, 0),
                    tick(10, 1),
                    Op::AdvanceAll,
                    Op::Frame(pong),
                    tick(5, 1),
                    back(300),
                    tick(5, 1 | 0x80),
                    Op::AdvanceAll,
                    tick(10, 1),
                ],
            ),
            (
                // Our close is never answered.
                "close-timeout",
                fast,
                vec![
                    tick(0, 0),
                    Op::Close {
                        code: 0,
                        reason_len: 2,
                    },
                    Op::AdvanceAll,
                    tick(19, 1),
                    tick(1, 1),
                ],
            ),
            (
                // The peer closes; we answer and wait for its end, which
                // never comes: close_timeout ends the lingering close.
                "lingering-close",
                fast,
                vec![
                    tick(0, 0),
                    Op::Frame(close),
                    Op::AdvanceAll,
                    tick(1, 2),
                    back(1000),
                    tick(1, 2 | 0x80),
                ],
            ),
            (
                // 2 KiB queued over a 100-byte mark, nothing written.
                "write-timeout",
                Flow {
                    output_high_water: 100,
                    ..fast
                },
                vec![
                    Op::SendText {
                        len: 2000,
                        fragment: false,
                        fin: true,
                    },
                    tick(0, 0),
                    tick(10, 1),
                    tick(5, 1),
                ],
            ),
            (
                // Output over the mark stops input; writing lets it in again.
                "backpressure",
                tight,
                vec![
                    binary(1500),
                    Op::Frame(spec(true, 1, 300, Payload::Text)),
                    Op::Frame(spec(true, 4, 100, Payload::Text)),
                    Op::Advance { n: 1000 },
                    Op::AdvanceAll,
                    Op::Frame(spec(true, 2, 2000, Payload::Bytes { seed: 3 })),
                    Op::Frame(spec(true, 2, 2000, Payload::Bytes { seed: 4 })),
                    Op::AdvanceAll,
                ],
            ),
            (
                // A message begun and never finished: 1008 after 1 s; the
                // next message (after a ping between) restarts the clock.
                "message-timeout",
                Flow {
                    message_timeout: 10,
                    ..fast
                },
                vec![
                    Op::Frame(spec(true, 1, 3, Payload::Text)),
                    tick(0, 0),
                    Op::Frame(spec(false, 1, 3, Payload::Text)),
                    tick(5, 1),
                    Op::Frame(spec(true, 4, 3, Payload::Text)),
                    Op::AdvanceAll,
                    tick(3, 1),
                    Op::Frame(spec(true, 0, 3, Payload::Text)),
                    Op::Frame(spec(false, 1, 3, Payload::Text)),
                    tick(0, 0),
                    tick(10, 1),
                ],
            ),
            (
                // The third frame of a message, two allowed: 1008.
                "too-many-frames",
                Flow {
                    max_frames: 2,
                    ..Flow::DEFAULT
                },
                vec![
                    Op::Frame(spec(true, 1, 3, Payload::Text)),
                    Op::Frame(spec(false, 1, 3, Payload::Text)),
                    Op::Frame(spec(false, 0, 3, Payload::Text)),
                    Op::Frame(spec(true, 0, 3, Payload::Text)),
                ],
            ),
        ];
        for (script, flow, ops) in scripts {
            out.write(
                "connection_frames",
                &format!("{name}-{script}"),
                &frames_input(&with(flow), &ops),
            );
        }
        // K3: the keepalive gives up while a frame is half written; the rest
        // of it is dropped and the 1001 close queued where the peer reads it
        // as the frame's last payload bytes.
        out.write(
            "connection_frames",
            &format!("crash-k3-{name}-abandon-half-written-frame"),
            &frames_input(
                &with(fast),
                &[
                    tick(0, 0),
                    binary(100),
                    Op::Advance { n: 96 },
                    tick(10, 1),
                    tick(10, 1),
                ],
            ),
        );
    }
    // K4: `commit_received` beyond the lent bytes counts as that many bytes
    // discarded: a closed connection waits for the peer's end no more.
    let close = spec(
        true,
        3,
        0,
        Payload::Close {
            code: 0,
            reason_len: 0,
        },
    );
    out.write(
        "connection_frames",
        "crash-k4-server-overcommit-ends-lingering-close",
        &frames_input(
            &setup(false, 0),
            &[
                Op::Frame(close),
                Op::AdvanceAll,
                Op::ReceiveLent {
                    lend: 10,
                    commit: 0xFFFF,
                },
                Op::ReceiveLent {
                    lend: 10,
                    commit: 0xFFFF,
                },
            ],
        ),
    );
    // The raw stream, fed in small reads with tight marks (a 64 KiB frame
    // through a 1 KiB read buffer), and through lent owned buffers.
    let frames = [
        masked(true, 1, b"Hello"),
        masked(true, 9, b"ping"),
        masked(true, 2, &vec![0x5A; 5000]),
        masked(true, 8, &close_payload(1000, "")),
    ]
    .concat();
    let tight = Flow {
        input_high_water: 0,
        output_high_water: 0,
        ..Flow::DEFAULT
    };
    let ops = [
        Op::ReceiveOwned { lend: 7, mode: 0 },
        Op::ReceiveOwned { lend: 4, mode: 1 },
        Op::ReceiveOwned { lend: 100, mode: 2 },
        Op::ReceiveOwned {
            lend: 3000,
            mode: 0,
        },
        tick(1, 2),
    ];
    out.write(
        "connection",
        "script-server-owned-buffers-tight",
        &connection_input(
            &Setup {
                flow: tight,
                ..setup(false, 200)
            },
            &ops,
            &frames,
        ),
    );
    // Bulk lends into a kept read buffer (`keep_read_buffer`): a 64 KiB
    // frame read 16 KiB at a time, then small frames after it in the same
    // store, then the buffer given up.
    let ramp: Vec<u8> = (0..65536).map(|i| i as u8).collect();
    let bulk = [
        masked(true, 2, &ramp),
        masked(true, 1, b"Hello"),
        masked(true, 2, &vec![0x5A; 9000]),
        masked(true, 9, b"ping"),
    ]
    .concat();
    let mut ops = vec![Op::KeepReadBuffer { keep: true }];
    ops.extend([Op::ReceiveLent {
        lend: 16 * 1024,
        commit: 0xFFFF,
    }; 6]);
    ops.push(Op::KeepReadBuffer { keep: false });
    ops.push(Op::ReceiveLent {
        lend: 16 * 1024,
        commit: 0xFFFF,
    });
    out.write(
        "connection",
        "script-server-kept-bulk-buffer",
        &connection_input(&setup(false, 0), &ops, &bulk),
    );
}
