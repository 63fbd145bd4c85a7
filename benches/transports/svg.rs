//! The harness's plot: bytes per update and p99 latency per transport, one
//! group of bars per (watchers, votes/s) cell, log scales; a plain SVG
//! written from the figures (no plotting library needed).

use std::fmt::Write;

use crate::Cell;
use crate::clients::Transport;

const COLOURS: [(&str, Transport); 4] = [
    ("#d95f02", Transport::Poll),
    ("#7570b3", Transport::Long),
    ("#1b9e77", Transport::Sse),
    ("#1f78b4", Transport::Ws),
];

const WIDTH: f64 = 900.0;
const PANEL: f64 = 260.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 58.0;

/// The SVG text of both panels.
pub fn plot(cells: &[Cell]) -> String {
    let mut groups: Vec<(usize, f64)> = Vec::new();
    for c in cells {
        if !groups.contains(&(c.watchers, c.rate)) {
            groups.push((c.watchers, c.rate));
        }
    }
    let height = TOP + 2.0 * (PANEL + 70.0) + 30.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">Vote board: four push \
         transports on loopback (benches/transports)</text>",
        WIDTH / 2.0
    );
    panel(
        &mut svg,
        cells,
        &groups,
        TOP,
        "bytes on the wire per delivered update (log)",
        |c| c.bytes_per_update,
    );
    panel(
        &mut svg,
        cells,
        &groups,
        TOP + PANEL + 70.0,
        "latency vote → watcher has it, p99, ms (log)",
        |c| c.p99_ms,
    );
    // The legend.
    let y = height - 18.0;
    for (i, (colour, transport)) in COLOURS.iter().enumerate() {
        let x = LEFT + i as f64 * 140.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            y - 11.0,
            x + 20.0,
            y,
            label(*transport)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn label(transport: Transport) -> &'static str {
    match transport {
        Transport::Poll => "short polling (2 s)",
        Transport::Long => "long polling",
        Transport::Sse => "Server-Sent Events",
        Transport::Ws => "WebSocket",
    }
}

fn panel(
    svg: &mut String,
    cells: &[Cell],
    groups: &[(usize, f64)],
    top: f64,
    title: &str,
    value: impl Fn(&Cell) -> f64,
) {
    let values: Vec<f64> = cells
        .iter()
        .map(&value)
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let lo = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(0.01);
    let hi = values.iter().copied().fold(0.0, f64::max).max(lo * 10.0);
    let (lo, hi) = (
        10f64.powf(lo.log10().floor()),
        10f64.powf(hi.log10().ceil()),
    );
    let y_of =
        |v: f64| top + PANEL - (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) * PANEL;
    let right = WIDTH - 20.0;
    let _ = writeln!(
        svg,
        "<text x=\"{LEFT}\" y=\"{}\" font-size=\"13\">{title}</text>",
        top - 8.0
    );
    // Decades.
    let mut decade = lo;
    while decade <= hi * 1.001 {
        let y = y_of(decade);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            y + 4.0,
            decade
        );
        decade *= 10.0;
    }
    let group_width = (right - LEFT) / groups.len().max(1) as f64;
    let bar = group_width / 5.0;
    for (g, &(watchers, rate)) in groups.iter().enumerate() {
        let x0 = LEFT + g as f64 * group_width + bar / 2.0;
        for (i, (colour, transport)) in COLOURS.iter().enumerate() {
            let Some(cell) = cells
                .iter()
                .find(|c| c.transport == *transport && c.watchers == watchers && c.rate == rate)
            else {
                continue;
            };
            let v = value(cell);
            if !v.is_finite() {
                continue;
            }
            let y = y_of(v);
            let x = x0 + i as f64 * bar;
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\">\
                 <title>{} N={watchers} R={rate}: {v:.1}</title></rect>",
                bar - 2.0,
                top + PANEL - y,
                transport.name()
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">N={watchers}, {rate}/s</text>",
            x0 + 2.0 * bar,
            top + PANEL + 16.0
        );
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{right}\" y2=\"{0:.1}\" stroke=\"#333\"/>",
        top + PANEL
    );
}
