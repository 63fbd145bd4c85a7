//! Interleaved measurement for the decode and encode benches (issue 17),
//! for when the machine's noise swamps criterion's rounds.
//!
//! Criterion measures one contender for its whole warm-up and measurement
//! time, then the next: on a shared machine the other jobs change in
//! between, and a ratio of two such medians carries that change. Here, for
//! each benchmark cell (group and size), every round times one short batch
//! of each contender in turn (the order rotated by one each round, so no
//! contender always follows the same one), and the ratio ours ÷ best peer
//! is taken within the round. The result per cell is the median over the
//! rounds of those ratios, beside each contender's median time per
//! iteration.
//!
//! `INTERLEAVE=1 cargo bench --bench decode [-- REGEX]` selects this mode
//! in `benches/{decode,encode}.rs`; `INTERLEAVE_SECS` sets the time per cell
//! (default 2 s, all contenders together, after a warm-up of 0.2 s per
//! contender); REGEX, like criterion's filter, keeps the cells whose
//! `group/size` it matches. A batch is the same number of iterations for
//! every contender, enough that the fastest takes about
//! [`BATCH_TARGET_NS`]: long beside a reading of the clock (a system call
//! for CPU time), short beside the other jobs' time slices. The clock is
//! [`Clock`] (CPU time unless `BENCH_CLOCK=wall`).
//!
//! Each cell prints a markdown row. With `PEER_RESULTS=FILE` (set by
//! run.sh), the run also appends one JSON line to FILE for report.py:
//! `{group: {contender: {size: [ns, bytes]}}, "_ratio": {group: {ours:
//! {size: ratio}}}}`, `ns` the median time of one iteration and `bytes` its
//! payload, as in report.py's snapshots of criterion's results.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::Clock;

/// Our contenders: the ratio columns.
pub const OURS: [&str; 2] = ["rfc6455", "rfc6455_blocking"];
/// The peers the ratios are taken against (the best of them, per round).
pub const PEERS: [&str; 3] = ["tungstenite", "fastwebsockets", "tokio_websockets"];

/// The time the fastest contender's batch should take: 200 µs, a
/// thousand times a CPU-clock reading (a system call of some 100–300 ns
/// in this KVM guest) and well under a scheduler slice (3–4 ms).
pub const BATCH_TARGET_NS: u64 = 200_000;

/// Upper bound on iterations per batch, so that a contender much faster
/// than expected cannot make a batch of the slow ones take seconds.
const MAX_ITERS: u64 = 1000;

/// Warm-up per contender before a cell's rounds (or a tenth of the time
/// per cell, if less).
const WARM_UP: Duration = Duration::from_millis(200);

/// Rounds per cell at the least, whatever the time per cell.
const MIN_ROUNDS: usize = 3;

/// One contender of a cell: its name and one iteration of its work.
pub type Contender<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Measured results of one interleaved run, gathered cell by cell.
pub struct Interleaved {
    clock: Clock,
    per_cell: Duration,
    filter: Option<regex::Regex>,
    /// The cells measured so far, by group in first-seen order.
    groups: Vec<Group>,
    header_printed: bool,
    /// Whether [`Self::finish`] writes to `PEER_RESULTS`.
    write_results: bool,
}

/// One group's figures: per contender and size the median ns per
/// iteration and the payload bytes of one; per contender of ours and size
/// the median ratio to the best peer.
struct Group {
    name: String,
    times: Vec<(&'static str, usize, f64, u64)>,
    ratios: Vec<(&'static str, usize, f64)>,
}

impl Interleaved {
    /// The interleaved mode when `INTERLEAVE` is set to anything but `0` or
    /// empty; `None` (criterion's mode) otherwise. The first command-line
    /// argument that is not a flag is the cell filter (a regex).
    pub fn from_env() -> Option<Self> {
        match std::env::var("INTERLEAVE").as_deref() {
            Err(_) | Ok("") | Ok("0") => return None,
            Ok(_) => {}
        }
        let secs = match std::env::var("INTERLEAVE_SECS") {
            Ok(s) => s
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .unwrap_or_else(|| panic!("INTERLEAVE_SECS must be a positive number, not {s:?}")),
            Err(_) => 2.0,
        };
        let filter = std::env::args()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .map(|f| regex::Regex::new(&f).unwrap_or_else(|e| panic!("filter {f:?}: {e}")));
        Some(Interleaved {
            clock: Clock::from_env(),
            per_cell: Duration::from_secs_f64(secs),
            filter,
            groups: Vec::new(),
            header_printed: false,
            write_results: true,
        })
    }

    /// A run of [`MIN_ROUNDS`] rounds without warm-up over the cells that
    /// `filter` matches, writing no results: what `cargo test --benches`
    /// runs, so that this mode is built and run on every test.
    pub fn for_test(filter: &str) -> Self {
        Interleaved {
            clock: Clock::from_env(),
            per_cell: Duration::ZERO,
            filter: Some(regex::Regex::new(filter).expect("valid filter")),
            groups: Vec::new(),
            header_printed: false,
            write_results: false,
        }
    }

    /// Whether this process is `cargo test --benches` rather than `cargo
    /// bench` (no `--bench` argument: criterion's own rule for its test
    /// mode).
    pub fn test_mode() -> bool {
        !std::env::args().any(|a| a == "--bench")
    }

    /// The `main` of a bench with both modes: `interleaved` when
    /// `INTERLEAVE` asks for it, else criterion's `benches` (the function
    /// `criterion_group!` made), and under `cargo test --benches` also
    /// `interleaved` on the one cell `test_cell` matches, so that this mode
    /// cannot rot.
    pub fn main(benches: fn(), interleaved: fn(Interleaved), test_cell: &str) {
        if let Some(run) = Interleaved::from_env() {
            return interleaved(run);
        }
        benches();
        criterion::Criterion::default()
            .configure_from_args()
            .final_summary();
        if Interleaved::test_mode() {
            interleaved(Interleaved::for_test(test_cell));
        }
    }

    /// Whether the filter keeps the cell `group/size`.
    pub fn wants(&self, group: &str, size: usize) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.is_match(&format!("{group}/{size}")))
    }

    /// Measures one cell: `contenders` in interleaved batches for the time
    /// per cell; `bytes` is the payload of one iteration (the same for all).
    /// Prints the cell's row and keeps its figures for [`Self::finish`].
    pub fn cell(&mut self, group: &str, size: usize, bytes: u64, contenders: &mut [Contender<'_>]) {
        let names: Vec<&'static str> = contenders.iter().map(|(n, _)| *n).collect();
        if !self.header_printed {
            self.header_printed = true;
            println!(
                "| cell | {} | rounds × iterations | {} |",
                names.join(" | "),
                OURS.map(|o| format!("{o} ÷ best peer")).join(" | ")
            );
            println!(
                "|---|{}---:|{}",
                "---:|".repeat(names.len()),
                "---:|".repeat(OURS.len())
            );
        }
        // Warm-up, then one timed iteration each: iterations per batch from
        // the fastest.
        let warm_up = WARM_UP.min(self.per_cell / 10);
        let mut fastest = u64::MAX;
        for (_, f) in contenders.iter_mut() {
            let began = Instant::now();
            while began.elapsed() < warm_up {
                f();
            }
            let start = self.clock.now_ns();
            f();
            fastest = fastest.min(self.clock.now_ns() - start);
        }
        let iters = BATCH_TARGET_NS.div_ceil(fastest.max(1)).clamp(1, MAX_ITERS);

        let k = contenders.len();
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); k];
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); OURS.len()];
        let mut round_ns = vec![0.0; k];
        let start = Instant::now();
        let mut round = 0;
        while start.elapsed() < self.per_cell || round < MIN_ROUNDS {
            for j in 0..k {
                let i = (round + j) % k;
                let f = &mut contenders[i].1;
                let t0 = self.clock.now_ns();
                for _ in 0..iters {
                    f();
                }
                round_ns[i] = (self.clock.now_ns() - t0) as f64 / iters as f64;
            }
            let best_peer = (0..k)
                .filter(|&i| PEERS.contains(&names[i]))
                .map(|i| round_ns[i])
                .fold(f64::INFINITY, f64::min);
            for (o, ours) in OURS.iter().enumerate() {
                if let Some(i) = names.iter().position(|n| n == ours) {
                    // Throughput ratio: the best peer's time over ours.
                    ratios[o].push(best_peer / round_ns[i]);
                }
            }
            for i in 0..k {
                times[i].push(round_ns[i]);
            }
            round += 1;
        }

        let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
        let ratio_medians: Vec<Option<f64>> = ratios
            .iter_mut()
            .map(|r| (!r.is_empty()).then(|| median(r)))
            .collect();
        let cells: Vec<String> = medians
            .iter()
            .map(|ns| {
                let gbs = bytes as f64 / ns;
                format!("{gbs:.2} ({:.2})", gbs * 1e3 / size as f64)
            })
            .collect();
        let rs: Vec<String> = ratio_medians
            .iter()
            .map(|r| r.map_or("–".into(), |r| format!("{r:.2}")))
            .collect();
        println!(
            "| {group}/{size} | {} | {round} × {iters} | {} |",
            cells.join(" | "),
            rs.join(" | ")
        );

        let g = match self.groups.iter().position(|g| g.name == group) {
            Some(i) => &mut self.groups[i],
            None => {
                self.groups.push(Group {
                    name: group.to_string(),
                    times: Vec::new(),
                    ratios: Vec::new(),
                });
                self.groups.last_mut().expect("just pushed")
            }
        };
        for (name, ns) in names.iter().zip(&medians) {
            g.times.push((name, size, *ns, bytes));
        }
        for (ours, r) in OURS.iter().zip(&ratio_medians) {
            if let Some(r) = r {
                g.ratios.push((ours, size, *r));
            }
        }
    }

    /// Appends the run's JSON line to `PEER_RESULTS`, if set.
    pub fn finish(self) {
        let path = match std::env::var("PEER_RESULTS") {
            Ok(path) if self.write_results => path,
            _ => return,
        };
        let mut json = String::from("{");
        let mut ratio_json = String::from("\"_ratio\": {");
        for (gi, g) in self.groups.iter().enumerate() {
            let sep = if gi > 0 { ", " } else { "" };
            write!(json, "{sep}\"{}\": {{", g.name).expect("string write");
            write!(ratio_json, "{sep}\"{}\": {{", g.name).expect("string write");
            nested(
                &mut json,
                g.times
                    .iter()
                    .map(|(c, s, ns, b)| (*c, *s, format!("[{ns}, {b}]"))),
            );
            nested(
                &mut ratio_json,
                g.ratios.iter().map(|(c, s, r)| (*c, *s, format!("{r}"))),
            );
            json.push('}');
            ratio_json.push('}');
        }
        if !self.groups.is_empty() {
            json.push_str(", ");
        }
        json.push_str(&ratio_json);
        json.push_str("}}\n");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("PEER_RESULTS {path}: {e}"));
        std::io::Write::write_all(&mut file, json.as_bytes())
            .unwrap_or_else(|e| panic!("PEER_RESULTS {path}: {e}"));
    }
}

/// Writes `"contender": {"size": value, ...}, ...` for entries grouped by
/// contender in first-seen order. Names and sizes need no JSON escaping.
fn nested(out: &mut String, entries: impl Iterator<Item = (&'static str, usize, String)>) {
    let mut by: Vec<(&'static str, Vec<(usize, String)>)> = Vec::new();
    for (c, s, v) in entries {
        match by.iter_mut().find(|(n, _)| *n == c) {
            Some((_, list)) => list.push((s, v)),
            None => by.push((c, vec![(s, v)])),
        }
    }
    for (ci, (c, list)) in by.iter().enumerate() {
        let sep = if ci > 0 { ", " } else { "" };
        let inner: Vec<String> = list.iter().map(|(s, v)| format!("\"{s}\": {v}")).collect();
        write!(out, "{sep}\"{c}\": {{{}}}", inner.join(", ")).expect("string write");
    }
}

/// The median of `v` (the upper one of an even count); sorts `v`.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
