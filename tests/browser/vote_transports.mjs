// examples/vote.html on its four transports against examples/vote_server.rs
// in headless Chromium: four pages (?transport=ws, sse, long, poll); a vote
// in any one shows the same new counts in all four, each within its
// transport's expected delay (WebSocket, SSE and long polling well under a
// second; short polling within one --poll-interval); after a server
// restart on the same port the SSE page reconnects by itself with
// Last-Event-ID and shows the new board's counts, as do the others.
//
//   node tests/browser/vote_transports.mjs http://127.0.0.1:PORT/ <screenshot-dir> <extensions>
//
// tests/browser.rs starts the server with --poll-interval 500 --sse-retry 500.

import { check, eventually, ok, restartServer, scenario } from './lib.mjs';

const CANDIDATES = ['Rust', 'Go', 'Zig', 'C++'];
const POLL_INTERVAL_MS = 500; // the server's --poll-interval in this scenario
const FAST_MS = 1000; // ws, sse, long: "well under a second"
const TRANSPORTS = { ws: 'WebSocket', sse: 'Server-Sent Events', long: 'long polling', poll: 'short polling' };

await scenario('vote_transports', async ({ url, openPage, screenshot }) => {
  const view = (page) =>
    page.evaluate(() => ({
      status: document.getElementById('status').textContent,
      transport: document.getElementById('transport').textContent,
      names: [...document.querySelectorAll('#candidates li')].map((li) => li.dataset.name),
      counts: [...document.querySelectorAll('#candidates li')].map((_, i) => document.getElementById(`count-${i}`).textContent),
      enabled: [...document.querySelectorAll('#candidates button')].every((b) => !b.disabled),
      total: document.getElementById('total').textContent,
      latency: document.getElementById('latency').textContent,
      bytes: Number(document.getElementById('bytes').textContent),
      board: { ...window.voteBoard },
    }));

  async function waitForCounts(page, counts, what, timeout) {
    return eventually(`${page.label}: ${what}: counts ${JSON.stringify(counts)}`, async () => {
      const v = await view(page);
      const good =
        v.status === 'connected' &&
        v.enabled &&
        JSON.stringify(v.names) === JSON.stringify(CANDIDATES) &&
        JSON.stringify(v.counts) === JSON.stringify(counts.map(String)) &&
        v.total === String(counts.reduce((a, b) => a + b, 0));
      return { ok: good, seen: v };
    }, timeout);
  }

  // --- Four pages, one per transport, all at zero.
  const pages = {};
  for (const transport of Object.keys(TRANSPORTS)) {
    const page = await openPage(`${transport} page`);
    page.lastEventIds = [];
    // allHeaders(): with those the network stack adds (Last-Event-ID).
    page.on('request', async (request) => {
      if (request.url().endsWith('/events')) page.lastEventIds.push((await request.allHeaders())['last-event-id'] ?? null);
    });
    await page.goto(`${url}?transport=${transport}`);
    pages[transport] = page;
  }
  const counts = [0, 0, 0, 0];
  for (const [transport, page] of Object.entries(pages)) {
    await waitForCounts(page, counts, 'on load');
    const v = await view(page);
    check(v.transport === TRANSPORTS[transport], `${page.label} says it uses ${v.transport}`);
    check(v.board.transport === transport, `${page.label}: voteBoard.transport ${v.board.transport}`);
  }
  ok('four pages, one per transport, each saying which, all at 0');

  // --- A vote in each page in turn: all four show it, each in time.
  const delays = Object.fromEntries(Object.keys(pages).map((t) => [t, []]));
  let round = 0;
  for (const [voterTransport, voter] of Object.entries(pages)) {
    round += 1;
    const index = round % CANDIDATES.length;
    const before = {};
    for (const [t, p] of Object.entries(pages)) before[t] = (await view(p)).bytes;
    const clicked = Date.now();
    await voter.locator(`#vote-${index}`).click();
    counts[index] += 1;
    for (const [transport, page] of Object.entries(pages)) {
      const limit = transport === 'poll' ? POLL_INTERVAL_MS + 500 : FAST_MS;
      await waitForCounts(page, counts, `after a vote in the ${voterTransport} page`, POLL_INTERVAL_MS + 3000);
      const v = await view(page);
      check(v.board.version === round, `${page.label}: version ${v.board.version}, expected ${round}`);
      const delay = v.board.shownAt - clicked;
      delays[transport].push(delay);
      check(delay <= limit, `${page.label}: showed the vote of the ${voterTransport} page after ${delay} ms (limit ${limit} ms)`);
      check(/^\d+ ms$/.test(v.latency), `${page.label}: latency shown as ${JSON.stringify(v.latency)}`);
      check(v.bytes > before[transport], `${page.label}: bytes received did not grow (${v.bytes})`);
    }
  }
  for (const [transport, list] of Object.entries(delays)) {
    ok(`${transport}: vote -> shown in ${list.join(', ')} ms`);
  }
  const shown = await Promise.all(Object.values(pages).map(view));
  check(new Set(shown.map((v) => JSON.stringify(v.counts))).size === 1, `the pages disagree: ${JSON.stringify(shown.map((v) => v.counts))}`);
  ok(`every transport shows the same counts ${JSON.stringify(counts)}; bytes ${shown.map((v) => `${v.board.transport} ${v.bytes}`).join(', ')}`);
  await screenshot(pages.sse, 'vote_transports_sse.png');

  // --- The server restarts (its board starts over at version 0): the SSE
  // page reconnects with Last-Event-ID and shows the new board's counts.
  const lastId = (await view(pages.sse)).board.lastEventId;
  check(lastId === String(round), `the SSE page's last event id is ${lastId}, expected ${round}`);
  await restartServer();
  const fresh = [0, 0, 0, 0];
  for (const page of Object.values(pages)) await waitForCounts(page, fresh, 'after the server restart', 10000);
  const resumedWith = pages.sse.lastEventIds.filter((id) => id !== null);
  check(resumedWith.includes(String(round)), `the SSE page reconnected with Last-Event-ID ${JSON.stringify(pages.sse.lastEventIds)}`);
  const stats = await pages.sse.evaluate(async () => (await fetch('/api/stats')).json());
  check(stats.event_streams_resumed >= 1, `the restarted server saw no stream resumed: ${JSON.stringify(stats)}`);
  check((await view(pages.sse)).board.lastEventId === '0', 'the SSE page did not get the new board (event 0)');
  ok(`the SSE page resumed with Last-Event-ID ${round} and shows the new board's counts (event 0)`);
  await pages.sse.locator('#vote-2').click();
  fresh[2] += 1;
  for (const page of Object.values(pages)) await waitForCounts(page, fresh, 'a vote after the restart', POLL_INTERVAL_MS + 3000);
  ok('after the restart every transport counts again and shows the same counts');
});
