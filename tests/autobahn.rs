//! The Autobahn|Testsuite (`wstest -m fuzzingclient`, the reference
//! conformance suite for RFC 6455 and RFC 7692) against the real
//! `examples/echo_server` binary on a free loopback port.
//!
//! `wstest` is Python 2 code; `bash tests/autobahn/setup.sh` installs it, with
//! a private Python 2.7, into tests/autobahn/.py27 (see tests/autobahn/README.md).
//! Without it these tests fail and say so: they never skip.
//!
//! Two runs, one after the other:
//! - the server as it starts by default (permessage-deflate accepted without
//!   context takeover): the cases of tests/autobahn/fuzzingclient.json, that
//!   is sections 1–10 in full and the compression sections 12 and 13 with
//!   messages of 16 to 8192 bytes (whole, and 8192 in 256-byte fragments);
//! - the server with `--deflate-context-takeover`: the same cases of
//!   sections 12 and 13 only;
//! - `examples/mio_echo_server` (the same echo on one `mio::Poll` loop) as
//!   it starts by default: sections 1–10 in full;
//! - `examples/tokio_echo_server` (the same echo on the async adapter; the
//!   harness builds it with `--features tokio`) as it starts by default:
//!   sections 1–10 in full;
//! - with `AUTOBAHN_FULL=1` only, `tokio_echo_server
//!   --deflate-context-takeover`: sections 12 and 13 (in the same test,
//!   after the run above).
//!
//! `AUTOBAHN_FULL=1` runs every case instead (sections 1–13 against
//! `echo_server` and `tokio_echo_server` as they start by default, 12–13 with
//! context takeover against each: about 15 minutes per run here, see the
//! README; the mio run stays at 1–10); `AUTOBAHN_CASES=7.1.6,12.*` runs just
//! those cases (Autobahn's patterns) in every run;
//! `AUTOBAHN_WSTEST=/path/to/wstest` uses another wstest.
//!
//! A case passes when Autobahn judged its behaviour `OK`, or `NON-STRICT` or
//! `INFORMATIONAL` (which the suite itself counts as acceptable), and its
//! closing `OK` or `INFORMATIONAL`; in sections 12 and 13 (permessage-deflate)
//! both must be `OK`. A failure lists every failing case with the report's
//! account of it, and keeps the whole report (HTML and JSON) in
//! `target/tmp/autobahn-PID-MODE/reports`.
#![cfg(feature = "deflate")]

mod app_harness;

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use app_harness::{Process, Server, example_binary};
use serde_json::{Value, json};

const SETUP_HINT: &str = "run bash tests/autobahn/setup.sh";

/// Upper bound for one `wstest` run of the default case set (about a minute
/// on an idle two-core machine) and of the full set (about 15 minutes).
const SUBSET_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const FULL_TIMEOUT: Duration = Duration::from_secs(45 * 60);

fn autobahn_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/autobahn")
}

/// The installed `wstest`, checked to answer; panics with the setup hint
/// when it is missing or broken.
fn wstest() -> PathBuf {
    let path = env::var_os("AUTOBAHN_WSTEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| autobahn_dir().join(".py27/bin/wstest"));
    match Command::new(&path)
        .arg("--autobahnversion")
        .stdin(Stdio::null())
        .output()
    {
        Ok(output)
            if output.status.success()
                && String::from_utf8_lossy(&output.stdout).contains("AutobahnTestSuite") =>
        {
            path
        }
        Ok(output) => panic!(
            "{} does not work ({}): {SETUP_HINT}\n{}{}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => panic!(
            "Autobahn|Testsuite is not installed (cannot run {}: {e}): {SETUP_HINT}",
            path.display()
        ),
    }
}

/// How the echo server is started for a run.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// As it starts by default; the whole case selection.
    Default,
    /// With `--deflate-context-takeover`; the compression cases only.
    ContextTakeover,
    /// `mio_echo_server` as it starts by default; sections 1–10.
    Mio,
    /// `tokio_echo_server` as it starts by default; sections 1–10, or
    /// every case with `AUTOBAHN_FULL=1`.
    Tokio,
    /// `tokio_echo_server --deflate-context-takeover`; sections 12 and 13,
    /// run only with `AUTOBAHN_FULL=1`.
    TokioContextTakeover,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Default => "default",
            Mode::ContextTakeover => "context-takeover",
            Mode::Mio => "mio",
            Mode::Tokio => "tokio",
            Mode::TokioContextTakeover => "tokio-context-takeover",
        }
    }

    /// The example binary this mode runs.
    fn server(self) -> &'static str {
        match self {
            Mode::Mio => "mio_echo_server",
            Mode::Tokio | Mode::TokioContextTakeover => "tokio_echo_server",
            Mode::Default | Mode::ContextTakeover => "echo_server",
        }
    }

    /// The echo_server arguments for this mode, from what its `--help`
    /// offers: by default permessage-deflate is accepted (an older server
    /// needed `--deflate`).
    fn server_args(self) -> Vec<&'static str> {
        match self {
            // permessage-deflate is accepted by default
            Mode::Mio | Mode::Tokio => return vec![],
            Mode::TokioContextTakeover => return vec!["--deflate-context-takeover"],
            Mode::Default | Mode::ContextTakeover => {}
        }
        let output = Command::new(example_binary("echo_server"))
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .expect("run echo_server --help");
        let help = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        match self {
            Mode::Default if help.contains("--no-deflate") => vec![],
            Mode::Default if help.contains("--deflate") => vec!["--deflate"],
            Mode::ContextTakeover if help.contains("--deflate-context-takeover") => {
                vec!["--deflate-context-takeover"]
            }
            _ => panic!(
                "echo_server --help offers no option for the {} mode:\n{help}",
                self.name()
            ),
        }
    }
}

/// Whether Autobahn's verdict on a case is acceptable: see the module doc.
fn acceptable(case: &str, behavior: &str, close: &str) -> bool {
    let compression = matches!(case.split('.').next(), Some("12" | "13"));
    if compression {
        behavior == "OK" && close == "OK"
    } else {
        matches!(behavior, "OK" | "NON-STRICT" | "INFORMATIONAL")
            && matches!(close, "OK" | "INFORMATIONAL")
    }
}

/// Case ids such as "6.22.10" in numeric order.
fn case_key(id: &str) -> Vec<u32> {
    id.split('.')
        .map(|n| n.parse().unwrap_or(u32::MAX))
        .collect()
}

/// One failing case, told with the report's own words.
fn describe_failure(reports: &Path, case: &str, entry: &Value) -> String {
    let str_of = |v: &Value, key: &str| v[key].as_str().unwrap_or("?").to_string();
    let mut text = format!(
        "case {case}: behavior {}, close behavior {}",
        str_of(entry, "behavior"),
        str_of(entry, "behaviorClose")
    );
    let file = entry["reportfile"].as_str().map(|f| reports.join(f));
    let detail = file
        .as_ref()
        .and_then(|f| fs::read_to_string(f).ok())
        .and_then(|s| serde_json::from_str::<Value>(&s).ok());
    match detail {
        Some(d) => {
            for (label, key) in [
                ("description", "description"),
                ("expectation", "expectation"),
                ("result", "result"),
                ("close result", "resultClose"),
            ] {
                text.push_str(&format!("\n    {label}: {}", str_of(&d, key)));
            }
            text.push_str(&format!(
                "\n    close codes: ours {}, Autobahn's {}; clean: {}; not clean because: {}",
                d["remoteCloseCode"], d["localCloseCode"], d["wasClean"], d["wasNotCleanReason"]
            ));
        }
        None => text.push_str("\n    (no per-case report file)"),
    }
    if let Some(f) = file {
        text.push_str(&format!(
            "\n    report: {}",
            f.with_extension("html").display()
        ));
    }
    text
}

#[test]
fn autobahn_fuzzingclient_against_echo_server() {
    run_autobahn(Mode::Default);
}

#[test]
fn autobahn_compression_cases_with_context_takeover() {
    run_autobahn(Mode::ContextTakeover);
}

#[test]
fn autobahn_fuzzingclient_against_mio_echo_server() {
    run_autobahn(Mode::Mio);
}

/// Sections 1–10 (about 15 s); with `AUTOBAHN_FULL=1` every case, then
/// sections 12 and 13 again against `tokio_echo_server
/// --deflate-context-takeover` (about 30 minutes in all).
#[test]
fn autobahn_fuzzingclient_against_tokio_echo_server() {
    run_autobahn(Mode::Tokio);
    if full() {
        run_autobahn(Mode::TokioContextTakeover);
    }
}

/// `AUTOBAHN_FULL=1`: every case.
fn full() -> bool {
    env::var("AUTOBAHN_FULL").is_ok_and(|v| v == "1")
}

/// Runs wstest against a fresh echo server started as `mode` says, and
/// judges every case of the report.
fn run_autobahn(mode: Mode) {
    // One run at a time: both share two cores, and wstest's timing-based
    // cases (and its own timeouts) should not depend on the other run.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);

    let wstest = wstest();
    let full = full();

    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "autobahn-{}-{}",
        std::process::id(),
        mode.name()
    ));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).expect("create the report directory");
    let reports = work.join("reports");

    let server = Server::start(mode.server(), &mode.server_args());

    // The spec: tests/autobahn/fuzzingclient.json with our server and
    // report directory filled in.
    let template = autobahn_dir().join("fuzzingclient.json");
    let mut spec: Value = serde_json::from_str(
        &fs::read_to_string(&template).expect("read tests/autobahn/fuzzingclient.json"),
    )
    .expect("tests/autobahn/fuzzingclient.json is JSON");
    spec["outdir"] = json!(reports);
    spec["servers"] = json!([{ "agent": "rfc6455", "url": server.url("") }]);
    if full {
        spec["cases"] = json!(["*"]);
        spec["exclude-cases"] = json!([]);
    }
    if matches!(mode, Mode::ContextTakeover | Mode::TokioContextTakeover) {
        spec["cases"] = json!(["12.*", "13.*"]);
    }
    if mode == Mode::Mio || mode == Mode::Tokio && !full {
        let sections: Vec<String> = (1..=10).map(|n| format!("{n}.*")).collect();
        spec["cases"] = json!(sections);
        spec["exclude-cases"] = json!([]);
    }
    if let Ok(only) = env::var("AUTOBAHN_CASES") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        spec["cases"] = json!(only);
        spec["exclude-cases"] = json!([]);
    }
    let spec_path = work.join("fuzzingclient.json");
    fs::write(&spec_path, serde_json::to_string_pretty(&spec).unwrap()).expect("write the spec");

    let started = Instant::now();
    let mut run = Process::spawn(
        "wstest",
        Command::new(&wstest)
            .args(["-m", "fuzzingclient", "-s"])
            .arg(&spec_path)
            .current_dir(&work),
    );
    let status = run.wait(if full { FULL_TIMEOUT } else { SUBSET_TIMEOUT });
    let elapsed = started.elapsed();
    if !status.success() {
        run.fail(&format!("failed ({status})"));
    }
    // The server lived through it all.
    if let Err(e) = TcpStream::connect(server.addr) {
        server_gone(server, &e);
    }

    // How many cases wstest announced, to check the report has them all.
    let stdout = run.stdout();
    let announced: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Ok, will run "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| run.fail("did not say how many cases it would run"));

    let index_path = reports.join("index.json");
    let index: Value = serde_json::from_str(
        &fs::read_to_string(&index_path)
            .unwrap_or_else(|e| run.fail(&format!("no {}: {e}", index_path.display()))),
    )
    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", index_path.display()));
    let cases = index["rfc6455"]
        .as_object()
        .unwrap_or_else(|| panic!("no results for agent rfc6455 in {}", index_path.display()));
    let mut ids: Vec<&String> = cases.keys().collect();
    ids.sort_by_key(|id| case_key(id));

    // Per section: how many cases got each (behavior, close behavior).
    let mut tally: BTreeMap<u32, BTreeMap<(String, String), usize>> = BTreeMap::new();
    // Per section: the cases' durations as Autobahn measured them, in ms.
    let mut millis: BTreeMap<u32, u64> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut tolerated = Vec::new();
    for id in &ids {
        let entry = &cases[id.as_str()];
        let behavior = entry["behavior"].as_str().unwrap_or("?");
        let close = entry["behaviorClose"].as_str().unwrap_or("?");
        *millis.entry(case_key(id)[0]).or_default() += entry["duration"].as_u64().unwrap_or(0);
        *tally
            .entry(case_key(id)[0])
            .or_default()
            .entry((behavior.to_string(), close.to_string()))
            .or_default() += 1;
        if !acceptable(id, behavior, close) {
            failures.push(describe_failure(&reports, id, entry));
        } else if (behavior, close) != ("OK", "OK") {
            tolerated.push(format!("{id} ({behavior}/{close})"));
        }
    }
    let summary: Vec<String> = tally
        .iter()
        .map(|(section, counts)| {
            let counts: Vec<String> = counts
                .iter()
                .map(|((b, c), n)| format!("{n} {b}/{c}"))
                .collect();
            format!(
                "  section {section}: {} ({:.1} s)",
                counts.join(", "),
                millis[section] as f64 / 1000.0
            )
        })
        .collect();
    println!(
        "Autobahn fuzzingclient, {} {}: {} cases in {:.0?}{}\n{}\naccepted as not strictly OK: {}",
        mode.server(),
        mode.name(),
        ids.len(),
        elapsed,
        if full { " (full set)" } else { "" },
        summary.join("\n"),
        if tolerated.is_empty() {
            "none".to_string()
        } else {
            tolerated.join(", ")
        }
    );

    assert!(
        failures.is_empty(),
        "{} {}: {} of {} Autobahn cases failed:\n\n{}\n\nper section:\n{}\nfull report: {}",
        mode.server(),
        mode.name(),
        failures.len(),
        ids.len(),
        failures.join("\n\n"),
        summary.join("\n"),
        reports.join("index.html").display()
    );
    assert_eq!(
        ids.len(),
        announced,
        "wstest announced {announced} cases, the report has {}",
        ids.len()
    );
    let sections: &[u32] = if env::var_os("AUTOBAHN_CASES").is_some() {
        &[]
    } else {
        match mode {
            Mode::Default => &[1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13],
            Mode::Tokio if full => &[1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13],
            Mode::ContextTakeover | Mode::TokioContextTakeover => &[12, 13],
            Mode::Mio | Mode::Tokio => &[1, 2, 3, 4, 5, 6, 7, 9, 10],
        }
    };
    for &section in sections {
        assert!(
            tally.contains_key(&section),
            "no case of section {section} in the report: check tests/autobahn/fuzzingclient.json"
        );
    }
    drop(run);
    drop(server);
    let _ = fs::remove_dir_all(&work);
}

fn server_gone(mut server: Server, error: &std::io::Error) -> ! {
    server.process.fail(&format!(
        "no longer accepts connections after the run: {error}"
    ))
}
