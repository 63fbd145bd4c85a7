//! A real Redis for a test: Debian's `redis-server` (installed by
//! `bash tests/redis/setup.sh`, which tests/run.sh calls), started on a free
//! loopback port without persistence, stopped by PID when the guard drops
//! (through [`Process`]). A missing `redis-server` fails the test loudly.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::app_harness::Process;

pub const REDIS_SETUP_HINT: &str = "run bash tests/redis/setup.sh";

/// How long a fresh `redis-server` may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `redis-server` on 127.0.0.1.
pub struct Redis {
    pub process: Process,
    pub port: u16,
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().unwrap().port()
}

impl Redis {
    /// Starts `redis-server` on a free loopback port.
    pub fn start() -> Redis {
        Self::start_on(free_port())
    }

    /// Starts `redis-server` on `port` (e.g. again after [`stop`](Self::stop)),
    /// and waits until it answers PING.
    pub fn start_on(port: u16) -> Redis {
        let binary = which("redis-server").unwrap_or_else(|| {
            panic!("redis-server is not installed: {REDIS_SETUP_HINT} (the chat tests over Redis need it)")
        });
        let process = Process::spawn(
            "redis-server",
            Command::new(binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                // Its own directory is not ours to write to.
                .args(["--dir", &std::env::temp_dir().to_string_lossy()]),
        );
        let mut redis = Redis { process, port };
        let deadline = Instant::now() + START_TIMEOUT;
        while !redis.answers_ping() {
            if Instant::now() > deadline {
                redis
                    .process
                    .fail(&format!("did not answer PING within {START_TIMEOUT:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// `redis://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Whether it answers `PING` with `+PONG`.
    pub fn answers_ping(&self) -> bool {
        let Ok(mut tcp) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(1)));
        if tcp.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut answer = [0u8; 7];
        tcp.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
    }

    /// Kills it (by PID) and waits until it is gone; returns its port.
    pub fn stop(self) -> u16 {
        let port = self.port;
        drop(self.process);
        port
    }
}

/// The path of `name` on `PATH`.
fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
