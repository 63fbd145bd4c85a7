//! A command-line WebSocket client: sends each line typed on stdin as a
//! text message and prints every message that comes back.
//!
//! ```text
//! cargo run --example client -- ws://127.0.0.1:9001/ws
//! cargo run --example client --features rustls -- --ca ca.pem wss://localhost:9443/ws
//! ```
//!
//! `wss://` (feature `rustls`) verifies the server's certificate for the
//! URL's host against the CA certificates of `--ca FILE` (PEM), or, without
//! it, against the roots of the crate's features (`rustls-tls-webpki-roots`:
//! Mozilla's, `rustls-tls-native-roots`: the system's). DNS, TCP, TLS and the
//! WebSocket handshake together have 10 s.
//!
//! Text messages are printed as they are, one per line; binary ones as
//! `[binary, N bytes: 00 01 ...]`. At the end of stdin (Ctrl-D) the client
//! closes with 1000 and waits for the server's reply. Status lines go to
//! stderr, so stdout holds only what the server sent.
//!
//! A reader thread prints while the main thread reads stdin, each with one
//! half of the socket ([`WebSocket::split`]). The program ends when the
//! connection does, whoever closed it: exit status 0 after a clean close
//! handshake, 1 if the connection failed.
//!
//! The client offers permessage-deflate (RFC 7692) with the crate's defaults
//! (`permessage-deflate; client_max_window_bits`: context takeover and
//! 15-bit windows, unless the server asks for less) and compresses what it
//! sends if the server accepts; the example servers and most others do.
//! `--no-deflate` offers nothing. The output is the same either way.

use std::io::{self, BufRead, Write};
#[cfg(not(feature = "rustls"))]
use std::net::TcpStream;
use std::time::Duration;
use std::{env, process, thread};

use rfc6455::blocking::{Error, Reader, WebSocket};
use rfc6455::handshake::{ClientOptions, Uri};
use rfc6455::{CloseCode, CloseFrame, Config, Event, Lost, Message};

/// How long to wait for the server's close reply after ours, and then for
/// the server to end the TCP connection (`Config::close_timeout`).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

#[path = "support/tls.rs"]
#[allow(unused)] // the client uses only the --ca part
mod tls;

const USAGE: &str = "\
usage: client [--no-deflate] [--ca FILE] ws://HOST:PORT/PATH | wss://HOST:PORT/PATH

Sends each line of stdin as a text message and prints what comes back.
At the end of stdin, closes with code 1000.

  --no-deflate  do not offer permessage-deflate (RFC 7692); by default it
                is offered, and used if the server accepts it
  --ca FILE     for wss://: trust the CA certificates in FILE (PEM) instead
                of the default roots (needs --features rustls)
  --help        show this help";

fn main() {
    let (url, deflate, ca) = parse_args();
    let uri = Uri::parse(&url).unwrap_or_else(|e| usage_error(&format!("{url:?}: {e}")));
    let ws = connect(&url, &uri, config(deflate), ca).unwrap_or_else(|e| {
        eprintln!("client: cannot connect to {url}: {}", describe(&e, &uri));
        process::exit(1);
    });
    eprintln!("connected to {url}");
    let (reader, mut writer) = ws.split().unwrap_or_else(|e| {
        eprintln!("client: {e}");
        process::exit(1);
    });

    // The reader thread ends the program when the connection ends.
    let printer = thread::spawn(move || process::exit(print_messages(reader)));

    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if writer.send_text(&line).is_err() {
            break; // the connection ended; the reader thread reports how
        }
    }
    // End of stdin: close; the server has CLOSE_TIMEOUT to answer, after
    // which the reader reports the connection lost.
    if let Err(e) = writer.close(CloseCode::NORMAL, "") {
        eprintln!("client: cannot send the close frame: {e}");
    }
    let _ = printer.join();
}

/// DNS, TCP, TLS for `wss://`, and the handshake, within 10 s.
#[cfg(feature = "rustls")]
fn connect(
    url: &str,
    _uri: &Uri,
    config: Config,
    ca: Option<String>,
) -> Result<WebSocket<rfc6455::blocking::tls::MaybeTlsStream>, Error> {
    let tls =
        ca.map(|ca| tls::client_config_with_ca(ca.as_ref()).unwrap_or_else(|e| usage_error(&e)));
    let (ws, _response) =
        rfc6455::blocking::tls::connect_with(url, tls, ClientOptions::default(), config)?;
    Ok(ws)
}

/// Without TLS: `ws://` only.
#[cfg(not(feature = "rustls"))]
fn connect(
    url: &str,
    uri: &Uri,
    config: Config,
    ca: Option<String>,
) -> Result<WebSocket<TcpStream>, Error> {
    if uri.secure() || ca.is_some() {
        usage_error("wss:// and --ca need TLS: build with --features rustls");
    }
    // An IPv6 literal keeps its brackets in the URI; the socket wants it bare.
    let host = uri.host().trim_start_matches('[').trim_end_matches(']');
    let stream = TcpStream::connect((host, uri.port()))?;
    let _ = stream.set_nodelay(true); // send each line at once
    let (ws, _response) = WebSocket::connect_with(stream, url, ClientOptions::default(), config)?;
    Ok(ws)
}

/// An error, in words that say what to do about a TLS one.
fn describe(error: &Error, uri: &Uri) -> String {
    #[cfg(feature = "rustls")]
    {
        use rfc6455::tls::Failure;
        match error.tls_failure() {
            Some(Failure::UntrustedCertificate) => {
                return format!(
                    "the server's certificate is not trusted ({error}); pass its CA with --ca FILE"
                );
            }
            Some(Failure::WrongHost) => {
                return format!(
                    "the server's certificate is not valid for {} ({error})",
                    uri.host()
                );
            }
            _ => {}
        }
    }
    let _ = uri;
    error.to_string()
}

/// Prints every message until the connection ends; returns the exit status.
fn print_messages(mut reader: Reader) -> i32 {
    let stdout = io::stdout();
    // The server's close frame, once it came.
    let mut close: Option<CloseFrame> = None;
    loop {
        // Events rather than messages: the close frame is printed when the
        // close handshake is done (the reader returns `None`).
        let message = match reader.read_event() {
            Ok(Some(Event::Message(message))) => message,
            Ok(Some(Event::Close(frame))) => {
                close = Some(frame);
                continue;
            }
            // Pings are answered by the reader; pongs are not ours to print.
            Ok(Some(Event::Ping(_) | Event::Pong(_))) => continue,
            Ok(None) => {
                let code = close.as_ref().map(|f| f.code_or_no_status());
                match close.as_ref().map(|f| f.reason.as_str()) {
                    Some(reason) if !reason.is_empty() => {
                        eprintln!("closed: {} {reason}", code.unwrap_or(CloseCode::NO_STATUS))
                    }
                    _ => eprintln!("closed: {}", code.unwrap_or(CloseCode::NO_STATUS)),
                }
                return 0;
            }
            Ok(Some(Event::Lost(Lost::TransportEnded))) => {
                eprintln!("client: the server hung up without a close frame");
                return 1;
            }
            Ok(Some(Event::Lost(lost))) => {
                eprintln!("client: connection lost: {lost}");
                return 1;
            }
            Err(e) => {
                eprintln!("client: {e}");
                return 1;
            }
        };
        let mut out = stdout.lock();
        let printed = match &message {
            Message::Text(text) => writeln!(out, "{text}"),
            Message::Binary(data) => {
                let hex: Vec<String> = data.iter().take(32).map(|b| format!("{b:02x}")).collect();
                let more = if data.len() > 32 { " ..." } else { "" };
                writeln!(
                    out,
                    "[binary, {} bytes: {}{more}]",
                    data.len(),
                    hex.join(" ")
                )
            }
        };
        if printed.and_then(|()| out.flush()).is_err() {
            return 1; // stdout is gone (e.g. a closed pipe)
        }
    }
}

/// The connection settings: the defaults with [`CLOSE_TIMEOUT`], offering
/// permessage-deflate unless `--no-deflate` was given.
fn config(deflate: bool) -> Config {
    let config = Config::default().close_timeout(CLOSE_TIMEOUT);
    #[cfg(feature = "deflate")]
    if deflate {
        return config.deflate(rfc6455::deflate::DeflateConfig::default());
    }
    let _ = deflate; // off, or built without the extension: nothing offered
    config
}

/// The URL, whether to offer permessage-deflate, and `--ca`.
fn parse_args() -> (String, bool, Option<String>) {
    let mut url = None;
    let mut deflate = true;
    let mut ca = None;
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ca" => match args.next() {
                Some(file) => ca = Some(file),
                None => usage_error("--ca needs a file"),
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                process::exit(0);
            }
            "--no-deflate" => deflate = false,
            flag if flag.starts_with("--") => usage_error(&format!("unknown argument {flag:?}")),
            _ if url.is_some() => usage_error("expected one ws:// URL"),
            _ => url = Some(arg),
        }
    }
    match url {
        Some(url) => (url, deflate, ca),
        None => usage_error("expected one ws:// URL"),
    }
}

fn usage_error(message: &str) -> ! {
    eprintln!("client: {message}\n\n{USAGE}");
    process::exit(2);
}
