//! Both receivers: our `Connection` and wsproto (one Python process per
//! batch), each reduced to a normalised [`Outcome`].

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Buf;

use crate::common::{fixed_keys, take_frames};
use crate::generator::{Agreement, split};
use rfc6455::frame::OpCode;
use rfc6455::{Config, Connection, Event, MessageKind, Role};

/// How long the one Python process may take (it needs a few seconds).
pub(crate) const PYTHON_TIMEOUT: Duration = Duration::from_secs(180);

pub(crate) const SETUP_HINT: &str = "run bash tests/peers/setup.sh";

// ---- outcomes -------------------------------------------------------------------

/// What a receiver made of a stream, normalised for comparison (events
/// and failure; `too_far` is a note on wsproto's failure, not compared).
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub(crate) events: Vec<Ev>,
    /// The close code the receiver failed the connection with.
    pub(crate) failure: Option<u16>,
    /// wsproto's zlib failed with "invalid distance too far back" (D6).
    pub(crate) too_far: bool,
}

impl PartialEq for Outcome {
    fn eq(&self, other: &Self) -> bool {
        self.events == other.events && self.failure == other.failure
    }
}

impl Eq for Outcome {}

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Ev {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, Vec<u8>),
    /// Something that should never happen (a crash in wsproto, an event
    /// from us after a failure, a missing close frame after a failure).
    Anomaly(String),
}

impl std::fmt::Debug for Ev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |b: &[u8]| {
            if b.len() > 40 {
                format!("{}..({} bytes)", hex(&b[..40]), b.len())
            } else {
                hex(b)
            }
        };
        match self {
            Ev::Text(b) => write!(
                f,
                "Text({:?})",
                String::from_utf8_lossy(&b[..b.len().min(40)])
            ),
            Ev::Binary(b) => write!(f, "Binary({})", short(b)),
            Ev::Ping(b) => write!(f, "Ping({})", short(b)),
            Ev::Pong(b) => write!(f, "Pong({})", short(b)),
            Ev::Close(code, r) => write!(f, "Close({code}, {:?})", String::from_utf8_lossy(r)),
            Ev::Anomaly(s) => write!(f, "ANOMALY({s})"),
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex from wsproto_diff.py"))
        .collect()
}

/// A message payload as compared: its bytes, or above 4 KiB `#LEN-CRC`
/// (hex length and CRC-32), as wsproto_diff.py prints it.
pub(crate) fn payload(bytes: &[u8]) -> Vec<u8> {
    if bytes.len() > 4096 {
        format!("#{:x}-{:08x}", bytes.len(), crc32(bytes)).into_bytes()
    } else {
        bytes.to_vec()
    }
}

fn unpayload(token: &str) -> Vec<u8> {
    if token.starts_with('#') {
        token.as_bytes().to_vec()
    } else {
        unhex(token)
    }
}

/// CRC-32 (IEEE, as zlib's `crc32`), bytewise with a table.
fn crc32(bytes: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, entry) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *entry = c;
        }
        t
    });
    !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// Parses one line `INDEX TOKEN...` of wsproto_diff.py's output.
pub(crate) fn parse_line(line: &str) -> (usize, Outcome) {
    let mut tokens = line.split(' ');
    let index = tokens
        .next()
        .and_then(|i| i.parse().ok())
        .expect("case index");
    let mut out = Outcome::default();
    for token in tokens.filter(|t| !t.is_empty()) {
        let (kind, rest) = token.split_once(':').expect("KIND:VALUE");
        match kind {
            "T" => out.events.push(Ev::Text(unpayload(rest))),
            "B" => out.events.push(Ev::Binary(unpayload(rest))),
            "PI" => out.events.push(Ev::Ping(unhex(rest))),
            "PO" => out.events.push(Ev::Pong(unhex(rest))),
            "C" => {
                let (code, reason) = rest.split_once(':').expect("C:CODE:HEX");
                out.events
                    .push(Ev::Close(code.parse().expect("close code"), unhex(reason)));
            }
            "F" => out.failure = Some(rest.parse().expect("failure code")),
            "Z" => out.too_far = rest == "far",
            "X" => out.events.push(Ev::Anomaly(format!(
                "wsproto raised {}",
                String::from_utf8_lossy(&unhex(rest))
            ))),
            other => panic!("unknown token {other:?} in {line:?}"),
        }
    }
    (index, out)
}

/// Our outcome: `stream` fed to a fresh connection in `role`, one read
/// per chunk, draining events after each (the documented call order):
/// what `receive` does not take (the input bound) is offered again after
/// draining. Keeps feeding after a close or a failure: nothing more may
/// come out (and a closed connection may stop taking input).
pub(crate) fn ours(role: Role, stream: &[u8], sizes: &[usize]) -> Outcome {
    ours_with(role, None, stream, sizes)
}

/// A fresh connection in `role`, with permessage-deflate agreed as `deflate`.
pub(crate) fn receiver(role: Role, deflate: Option<Agreement>) -> Connection {
    let agreement = rfc6455::Agreement::new(role);
    #[cfg(feature = "deflate")]
    let agreement = agreement.with_deflate(deflate.map(|a| rfc6455::deflate::DeflateParams {
        server_no_context_takeover: a.server_no_context_takeover,
        client_no_context_takeover: a.client_no_context_takeover,
        server_max_window_bits: Some(a.server_max_window_bits),
        client_max_window_bits: a.client_max_window_bits,
    }));
    #[cfg(not(feature = "deflate"))]
    assert!(
        deflate.is_none(),
        "permessage-deflate needs the `deflate` feature"
    );
    Connection::from_agreement_with_mask_source(agreement, Config::default(), fixed_keys)
}

/// Writes out everything `conn` has queued (pongs, close frames), as a
/// caller would: all of it, every chunk.
pub(crate) fn flush(conn: &mut Connection) {
    let n = conn.output_len();
    conn.output().advance(n);
}

/// [`ours`] with a permessage-deflate agreement.
pub(crate) fn ours_with(
    role: Role,
    deflate: Option<Agreement>,
    stream: &[u8],
    sizes: &[usize],
) -> Outcome {
    let mut conn = receiver(role, deflate);
    let mut out = Outcome::default();
    for mut piece in split(stream, sizes) {
        loop {
            let taken = conn.receive(piece);
            piece = &piece[taken..];
            ours_drain(&mut conn, &mut out);
            // Flush what is queued (pongs, the close reply) as a caller would.
            flush(&mut conn);
            if piece.is_empty() || (taken == 0 && !conn.wants_read()) {
                break;
            }
        }
    }
    out
}

/// Drains `conn`'s events into `out`.
fn ours_drain(conn: &mut Connection, out: &mut Outcome) {
    loop {
        match conn.poll_event() {
            Ok(Some(event)) => {
                let ev = match event {
                    _ if out.failure.is_some() => {
                        Ev::Anomaly(format!("event after the failure: {event:?}"))
                    }
                    Event::Message(m) if m.kind() == MessageKind::Text => {
                        Ev::Text(payload(m.as_bytes()))
                    }
                    Event::Message(m) => Ev::Binary(payload(m.as_bytes())),
                    Event::Ping(p) => Ev::Ping(p.to_vec()),
                    Event::Pong(p) => Ev::Pong(p.to_vec()),
                    Event::Close(c) => Ev::Close(c.code_or_no_status().0, c.reason.into_bytes()),
                    // No end-of-file and no timers here: never lost.
                    Event::Lost(lost) => Ev::Anomaly(format!("lost: {lost:?}")),
                };
                out.events.push(ev);
            }
            Ok(None) => break,
            Err(e) if out.failure.is_some() => {
                out.events.push(Ev::Anomaly(format!("second error {e:?}")));
                break;
            }
            Err(e) => {
                let code = e.close_code().0;
                out.failure = Some(code);
                // The close frame for the failure is queued (§7.1.7).
                let sent = take_frames(conn);
                let close = sent.iter().find(|f| f.opcode == OpCode::Close);
                let sent_code = close
                    .and_then(|f| f.payload.get(..2))
                    .map(|c| u16::from_be_bytes([c[0], c[1]]));
                if sent_code != Some(code) {
                    out.events.push(Ev::Anomaly(format!(
                        "failed with {e:?} ({code}) but queued close code {sent_code:?}"
                    )));
                }
            }
        }
    }
}

// ---- the wsproto process -----------------------------------------------------

pub(crate) fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// The wsproto version pinned in requirements.txt.
pub(crate) fn pinned_wsproto() -> String {
    let path = peers_dir().join("requirements.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("wsproto=="))
        .map(|v| v.trim().to_owned())
        .expect("requirements.txt pins wsproto")
}

/// A case for wsproto: role, permessage-deflate agreement and the chunks
/// it receives.
pub(crate) struct PyCase<'a> {
    pub(crate) role: Role,
    pub(crate) deflate: Option<Agreement>,
    /// wsproto's permessage-deflate as released, without the fixes of D4
    /// and D5 (wsproto_diff.py).
    pub(crate) released: bool,
    pub(crate) chunks: Vec<&'a [u8]>,
}

/// Runs all `cases` through one `python3 tests/peers/wsproto_diff.py`.
/// Fails (never skips) when python3 or the pinned wsproto is missing.
pub(crate) fn wsproto(cases: &[PyCase<'_>], name: &str) -> Vec<Outcome> {
    let mut input = Vec::new();
    for case in cases {
        let role = if case.role == Role::Server {
            b'S'
        } else {
            b'C'
        };
        match case.deflate {
            None => input.push(role),
            Some(a) => {
                let flags = u8::from(a.server_no_context_takeover)
                    | u8::from(a.client_no_context_takeover) << 1
                    | u8::from(case.released) << 7;
                input.extend_from_slice(&[role.to_ascii_lowercase(), flags]);
                input.extend_from_slice(&[a.server_max_window_bits, a.client_max_window_bits]);
            }
        }
        input.extend_from_slice(&(case.chunks.len() as u32).to_le_bytes());
        for chunk in &case.chunks {
            input.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
            input.extend_from_slice(chunk);
        }
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wsdiff-{name}.bin"));
    std::fs::write(&path, &input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

    let mut child = Command::new("python3")
        .arg(peers_dir().join("wsproto_diff.py"))
        .stdin(File::open(&path).expect("the case file"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): {SETUP_HINT}"));
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + PYTHON_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait for python3") {
            Some(status) => break status,
            None if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("wsproto_diff.py did not finish within {PYTHON_TIMEOUT:?}");
            }
        }
    };
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    assert!(
        status.success(),
        "wsproto_diff.py failed ({status}) on {}: {SETUP_HINT}\n{stderr}",
        path.display()
    );
    let mut lines = stdout.lines();
    let version = lines.next().unwrap_or_default();
    let pinned = pinned_wsproto();
    assert_eq!(
        version,
        format!("wsproto {pinned}"),
        "python3 imports a wsproto other than the pinned one: {SETUP_HINT}"
    );
    let mut outcomes = Vec::with_capacity(cases.len());
    for line in lines {
        if let Some(done) = line.strip_prefix("done ") {
            assert_eq!(done.parse::<usize>().ok(), Some(cases.len()), "case count");
            assert_eq!(outcomes.len(), cases.len());
            return outcomes;
        }
        let (index, outcome) = parse_line(line);
        assert_eq!(index, outcomes.len(), "case order");
        outcomes.push(outcome);
    }
    panic!("wsproto_diff.py stopped early:\n{stderr}");
}
