//! Generated cases, both outcomes, and the classification of every
//! disagreement against the documented differences (see main.rs).

use std::collections::BTreeMap;
use std::thread;

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};
use rfc6455::frame::apply_mask_scalar;
use rfc6455::{Config, Role};

use crate::common;
use crate::driver::*;
use crate::generator::*;

// ---- frames in a stream, structurally --------------------------------------------

/// Where a frame sits in a stream, read by structure alone (no validity checks).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) start: usize,
    /// Bytes of the frame present in the stream.
    pub(crate) avail: usize,
    /// The first header byte (FIN, RSV, opcode).
    b0: u8,
    pub(crate) masked: bool,
    /// Header length and declared payload length, once the length field is in.
    pub(crate) header: Option<(usize, u64)>,
}

impl Span {
    pub(crate) fn complete(&self) -> bool {
        self.header
            .is_some_and(|(h, len)| self.avail as u64 >= len.saturating_add(h as u64))
    }
}

pub(crate) fn spans(stream: &[u8]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let rest = &stream[pos..];
        let b1 = rest.get(1).copied().unwrap_or(0);
        let masked = b1 & 0x80 != 0;
        let ext = match b1 & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header = (rest.len() >= 2 + ext).then(|| {
            let len = match ext {
                0 => u64::from(b1 & 0x7F),
                2 => u64::from(u16::from_be_bytes([rest[2], rest[3]])),
                _ => u64::from_be_bytes(rest[2..10].try_into().unwrap()),
            };
            (2 + ext + if masked { 4 } else { 0 }, len)
        });
        let span = Span {
            start: pos,
            avail: rest.len(),
            b0: rest[0],
            masked,
            header,
        };
        if let (true, Some((h, len))) = (span.complete(), header) {
            let end = pos + h + len as usize;
            out.push(Span {
                avail: end - pos,
                ..span
            });
            pos = end;
        } else {
            out.push(span);
            break;
        }
    }
    out
}

// ---- classifying a disagreement --------------------------------------------------

/// One generated case and what came of it.
pub(crate) struct Case {
    pub(crate) role: Role,
    pub(crate) index: usize,
    pub(crate) plan: Plan,
    pub(crate) stream: Vec<u8>,
    pub(crate) sizes: Vec<usize>,
    pub(crate) ours: Outcome,
    pub(crate) theirs: Outcome,
}

/// D1: we accept close code 1014, wsproto fails 1002 on it.
pub(crate) fn is_d1(ours: &Outcome, theirs: &Outcome) -> bool {
    let Some((Ev::Close(1014, _), before)) = ours.events.split_last() else {
        return false;
    };
    ours.failure.is_none() && theirs.failure == Some(1002) && theirs.events == before
}

/// D6: damaged compressed data that refers further back than the agreed
/// window: wsproto's zlib rejects it ("invalid distance too far back"), we
/// inflate the message (what came before is the same on both sides).
pub(crate) fn is_d6(case: &Case) -> bool {
    let damaged = !case.plan.flips.is_empty()
        || case
            .plan
            .pieces
            .iter()
            .any(|p| matches!(p.what, "compressed, flipped" | "compressed, cut short"));
    let (ours, theirs) = (&case.ours, &case.theirs);
    case.plan.deflate.is_some()
        && damaged
        && theirs.too_far
        && theirs.failure == Some(1007)
        && ours.failure != Some(1007)
        && ours.events.starts_with(&theirs.events)
}

/// Derived streams that locate a disagreement in one frame `k`: the stream
/// before `k`, and the stream with `k` (and its message) completed.
pub(crate) struct Probe {
    pub(crate) case: usize,
    pub(crate) k: Span,
    pub(crate) before: Vec<u8>,
    pub(crate) completed: Option<Vec<u8>>,
}

/// The code of frame `k` if it is a complete close frame with one.
pub(crate) fn close_code(stream: &[u8], k: &Span) -> Option<u16> {
    let (h, len) = k.header?;
    if !k.complete() || k.b0 & 0x0F != 0x8 || len < 2 {
        return None;
    }
    let mut code = [stream[k.start + h], stream[k.start + h + 1]];
    if k.masked {
        let key: [u8; 4] = stream[k.start + h - 4..k.start + h].try_into().unwrap();
        apply_mask_scalar(&mut code, key, 0);
    }
    Some(u16::from_be_bytes(code))
}

/// The index of the frame on which our connection fails (feeding the
/// stream one frame per `receive`).
pub(crate) fn our_failing_frame(
    role: Role,
    deflate: Option<Agreement>,
    stream: &[u8],
    spans: &[Span],
) -> Option<usize> {
    let mut conn = receiver(role, deflate);
    for (i, s) in spans.iter().enumerate() {
        let mut frame = &stream[s.start..s.start + s.avail];
        // What `receive` does not take (the input bound) is offered again
        // after draining; queued pongs are written out so that the output
        // never holds input back.
        loop {
            let taken = conn.receive(frame);
            frame = &frame[taken..];
            loop {
                match conn.poll_event() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => return Some(i),
                }
            }
            flush(&mut conn);
            if frame.is_empty() || (taken == 0 && !conn.wants_read()) {
                break;
            }
        }
    }
    None
}

/// The stream up to the end of frame `k`, completed: the rest of its header
/// (masking key zero), payload bytes that unmask to `a` up to the declared
/// length, and for an unfinished data frame a final empty continuation.
/// `None` when the length field is not in yet or the payload would pass our
/// frame limit.
pub(crate) fn complete(role: Role, stream: &[u8], k: &Span) -> Option<Vec<u8>> {
    let (h, len) = k.header?;
    if len > Config::default().max_frame_size as u64 {
        return None;
    }
    let mut out = stream[..k.start + k.avail.min(h)].to_vec();
    out.resize(k.start + h, 0);
    let key: [u8; 4] = if k.masked {
        out[k.start + h - 4..k.start + h].try_into().unwrap()
    } else {
        [0; 4]
    };
    let have = k.avail.saturating_sub(h);
    if have > 0 {
        out.extend_from_slice(&stream[k.start + h..k.start + h + have]);
    }
    for i in have..len as usize {
        out.push(b'a' ^ key[i % 4]);
    }
    let fin = k.b0 & 0x80 != 0;
    if !fin && k.b0 & 0x0F <= 0x2 {
        let last = common::frame_to(role, true, 0x0, b"");
        out.extend_from_slice(&last);
    }
    Some(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    Agree,
    D1CloseCode1014,
    D2FrameLimit,
    D3aHeaderIncomplete,
    D3bPayloadIncomplete,
    D3cUtf8MessageUnfinished,
    D6DistanceTooFarBack,
    Disagree,
}

/// Checks one case against the deliberate differences, with the outcomes of
/// its probe (before, completed) from both sides.
pub(crate) fn classify(
    case: &Case,
    probe: &Probe,
    before: (&Outcome, &Outcome),
    completed: Option<(&Outcome, &Outcome)>,
) -> Verdict {
    let (ours, theirs) = (&case.ours, &case.theirs);
    // Everything before frame k: the same, nothing failed, no close yet.
    let (ob, tb) = before;
    if ob != tb || ob.failure.is_some() || ob.events.iter().any(|e| matches!(e, Ev::Close(..))) {
        return Verdict::Disagree;
    }
    let k = &probe.k;
    // D1, when the reason of the 1014 close is not UTF-8: we check the
    // reason of a code we accept (1007), wsproto stops at the code (1002).
    if close_code(&case.stream, k) == Some(1014)
        && ours.failure == Some(1007)
        && theirs.failure == Some(1002)
        && ours.events == ob.events
        && theirs.events == ob.events
    {
        return Verdict::D1CloseCode1014;
    }
    // D2: our frame limit, on frame k's header.
    if ours.failure == Some(1009)
        && k.header
            .is_some_and(|(_, len)| len > Config::default().max_frame_size as u64)
        && ours.events == ob.events
        && theirs.events == ob.events
    {
        return Verdict::D2FrameLimit;
    }
    // D3: one side failed early on frame k; once k is complete both agree.
    let Some((oc, tc)) = completed else {
        return Verdict::Disagree;
    };
    if oc != tc {
        return Verdict::Disagree;
    }
    let early = match (ours.failure, theirs.failure) {
        // We failed on k. wsproto has not found the violation yet, or went
        // on past k (a lazy UTF-8 check) and failed later, maybe on
        // something else: what it did after k is beyond the comparison; the
        // completed probe decides.
        (Some(o), _) => {
            if ours.events != ob.events || !theirs.events.starts_with(&ob.events) {
                return Verdict::Disagree;
            }
            o
        }
        // wsproto failed on k (an incomplete frame), we have not yet.
        (None, Some(t)) => {
            if theirs.events != ob.events || ours.events != ob.events {
                return Verdict::Disagree;
            }
            t
        }
        _ => return Verdict::Disagree,
    };
    if oc.failure != Some(early) || oc.events != ob.events {
        return Verdict::Disagree;
    }
    // Each cause with the one code and the one early side it can have: RSV
    // and masking (1002, wsproto) in an incomplete header, fragment order
    // (1002, ours) on a header without its payload, UTF-8 (1007, ours) in a
    // text or continuation frame of an unfinished message.
    let ours_early = ours.failure == Some(early) && ours.events == ob.events;
    match (k.header, early) {
        (Some((h, _)), 1002) if k.avail < h && !ours_early => Verdict::D3aHeaderIncomplete,
        (Some(_), 1002) if !k.complete() && ours_early => Verdict::D3bPayloadIncomplete,
        (Some(_), 1007) if k.b0 & 0x0F <= 0x1 && ours_early => Verdict::D3cUtf8MessageUnfinished,
        _ => Verdict::Disagree,
    }
}

// ---- the suite ----------------------------------------------------------------------

pub(crate) fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    Some(
        match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => v.parse(),
        }
        .unwrap_or_else(|e| panic!("{name}={v}: {e}")),
    )
}

/// The kind of plans a suite generates, per receiving role.
pub(crate) type PlanKind = fn(Role) -> BoxedStrategy<Plan>;

pub(crate) fn generate(role: Role, seed: u64, count: usize, kind: PlanKind) -> Vec<Plan> {
    // XorShift: fast in the unoptimised test build, and good enough here.
    let mut state = seed ^ if role == Role::Server { 0 } else { 0x5a5a_5a5a };
    let key = [splitmix(&mut state), splitmix(&mut state)].map(u64::to_le_bytes);
    let rng = TestRng::from_seed(RngAlgorithm::XorShift, key.as_flattened());
    let mut runner = TestRunner::new_with_rng(RunnerConfig::default(), rng);
    let strategy = kind(role);
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).expect("a plan").current())
        .collect()
}

pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Server => "server",
        Role::Client => "client",
    }
}

pub(crate) fn describe(case: &Case, seed: u64) -> String {
    format!(
        "seed {seed:#x} ({:?} case {}), chunk sizes {:?}, permessage-deflate {:?}\nplan: {:#?}\nstream ({} bytes): {}\nours:    {:?}\nwsproto: {:?}",
        case.role,
        case.index,
        case.sizes,
        case.plan.deflate,
        case.plan.pieces,
        case.stream.len(),
        hex(&case.stream[..case.stream.len().min(600)]),
        case.ours,
        case.theirs
    )
}

/// Our outcome for a case in its chunking, checked against other chunkings
/// (whole, byte by byte, other sizes), which must not change it.
pub(crate) fn our_side(case: &Case) -> (Outcome, Vec<String>) {
    let outcome = ours_with(case.role, case.plan.deflate, &case.stream, &case.sizes);
    let bytewise = if case.stream.len() <= 16 * 1024 {
        vec![1]
    } else {
        vec![1, 7, 300, 4096]
    };
    let others = [vec![usize::MAX], bytewise, case.plan.other_sizes.clone()];
    let mut problems = Vec::new();
    for other in others {
        let again = ours_with(case.role, case.plan.deflate, &case.stream, &other);
        if again != outcome {
            problems.push(format!(
                "our outcome depends on chunking: {other:?} gives {again:?}, {:?} gives {outcome:?}\nstream {}",
                case.sizes,
                hex(&case.stream)
            ));
        }
    }
    (outcome, problems)
}

/// Generates and encodes the cases, one thread per role.
pub(crate) fn generate_cases(seed: u64, per_role: usize, kind: PlanKind) -> Vec<Case> {
    thread::scope(|s| {
        let roles = [Role::Server, Role::Client]
            .map(|role| s.spawn(move || (role, generate(role, seed, per_role, kind))));
        roles
            .into_iter()
            .flat_map(|handle| {
                let (role, plans) = handle.join().expect("generation");
                plans.into_iter().enumerate().map(move |(index, plan)| {
                    let stream = plan.encode(role);
                    let sizes = plan.sizes(stream.len());
                    Case {
                        role,
                        index,
                        plan,
                        stream,
                        sizes,
                        ours: Outcome::default(),
                        theirs: Outcome::default(),
                    }
                })
            })
            .collect()
    })
}

/// Fills in both outcomes: wsproto in one Python process while our side
/// runs on two threads. Returns our chunking problems.
pub(crate) fn run_both(cases: &mut [Case], seed: u64) -> Vec<String> {
    let (theirs, ours_results) = thread::scope(|s| {
        let cases = &*cases;
        let python = s.spawn(move || {
            let py_cases: Vec<PyCase<'_>> = cases
                .iter()
                .map(|c| PyCase {
                    role: c.role,
                    deflate: c.plan.deflate,
                    released: false,
                    chunks: split(&c.stream, &c.sizes),
                })
                .collect();
            wsproto(&py_cases, &format!("{seed:x}"))
        });
        let halves: Vec<_> = cases
            .chunks(cases.len().div_ceil(2).max(1))
            .map(|half| s.spawn(move || half.iter().map(our_side).collect::<Vec<_>>()))
            .collect();
        let ours_results: Vec<(Outcome, Vec<String>)> = halves
            .into_iter()
            .flat_map(|h| h.join().expect("our side"))
            .collect();
        (python.join().expect("wsproto"), ours_results)
    });
    let mut problems = Vec::new();
    for ((case, theirs), (ours, chunking)) in cases.iter_mut().zip(theirs).zip(ours_results) {
        case.theirs = theirs;
        case.ours = ours;
        problems.extend(chunking);
    }
    problems
}

/// A verdict per case: D1 directly, the rest of the disagreements through
/// probes (one more, small wsproto batch). Returns the verdicts and the
/// number of probes.
pub(crate) fn judge(cases: &[Case], seed: u64) -> (Vec<Verdict>, usize) {
    let mut verdicts = vec![Verdict::Agree; cases.len()];
    let mut probes = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        if case.ours == case.theirs {
            continue;
        }
        if is_d1(&case.ours, &case.theirs) {
            verdicts[i] = Verdict::D1CloseCode1014;
            continue;
        }
        if is_d6(case) {
            verdicts[i] = Verdict::D6DistanceTooFarBack;
            continue;
        }
        verdicts[i] = Verdict::Disagree;
        // Frame k: where we failed, else the unfinished last frame.
        let spans = spans(&case.stream);
        let k =
            our_failing_frame(case.role, case.plan.deflate, &case.stream, &spans).or_else(|| {
                spans
                    .last()
                    .filter(|s| !s.complete())
                    .map(|_| spans.len() - 1)
            });
        if let Some(k) = k {
            let k = spans[k];
            probes.push(Probe {
                case: i,
                k,
                before: case.stream[..k.start].to_vec(),
                completed: complete(case.role, &case.stream, &k),
            });
        }
    }
    let mut py_cases = Vec::new();
    for p in &probes {
        let role = cases[p.case].role;
        let deflate = cases[p.case].plan.deflate;
        py_cases.push(PyCase {
            role,
            deflate,
            released: false,
            chunks: vec![&p.before[..]],
        });
        if let Some(c) = &p.completed {
            py_cases.push(PyCase {
                role,
                deflate,
                released: false,
                chunks: vec![&c[..]],
            });
        }
    }
    let theirs = if py_cases.is_empty() {
        Vec::new()
    } else {
        wsproto(&py_cases, &format!("{seed:x}-probes"))
    };
    let mut theirs = theirs.into_iter();
    for p in &probes {
        let case = &cases[p.case];
        let before = (
            ours_with(case.role, case.plan.deflate, &p.before, &[usize::MAX]),
            theirs.next().expect("probe outcome"),
        );
        let completed = p.completed.as_ref().map(|c| {
            (
                ours_with(case.role, case.plan.deflate, c, &[usize::MAX]),
                theirs.next().expect("probe outcome"),
            )
        });
        verdicts[p.case] = classify(
            case,
            p,
            (&before.0, &before.1),
            completed.as_ref().map(|(o, t)| (o, t)),
        );
    }
    (verdicts, probes.len())
}

/// The counts per role and verdict, and what the streams contained.
pub(crate) fn report(cases: &[Case], verdicts: &[Verdict]) -> String {
    let mut counts: BTreeMap<(&str, Verdict), usize> = BTreeMap::new();
    for (case, verdict) in cases.iter().zip(verdicts) {
        *counts.entry((role_name(case.role), *verdict)).or_default() += 1;
    }
    let mut out = String::new();
    for role in ["server", "client"] {
        let of_role = || counts.iter().filter(move |((r, _), _)| *r == role);
        let total: usize = of_role().map(|(_, n)| n).sum();
        let deliberate: usize = of_role()
            .filter(|((_, v), _)| !matches!(v, Verdict::Agree | Verdict::Disagree))
            .map(|(_, n)| n)
            .sum();
        let agree = counts.get(&(role, Verdict::Agree)).copied().unwrap_or(0);
        out += &format!(
            "differential: {role}: {total} streams compared with wsproto, {agree} agree, {deliberate} deliberate differences"
        );
        for ((_, v), n) in of_role().filter(|((_, v), _)| *v != Verdict::Agree) {
            out += &format!(", {v:?} {n}");
        }
        out += "\n";
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for case in cases {
        let mut seen: Vec<&str> = case.plan.pieces.iter().map(|p| p.what).collect();
        seen.sort_unstable();
        seen.dedup();
        for what in seen {
            *kinds.entry(what).or_default() += 1;
        }
    }
    let kinds: Vec<String> = kinds
        .iter()
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
    let flipped = cases.iter().filter(|c| !c.plan.flips.is_empty()).count();
    let cut = cases.iter().filter(|c| c.plan.truncate.is_some()).count();
    out += &format!(
        "differential: streams containing: {}; with flipped bytes {flipped}, cut short {cut}\n",
        kinds.join(", ")
    );
    out
}
