// examples/vote.html against examples/vote_server.rs in headless Chromium:
// a click in one page changes the count in the other at once (pushed, no
// reload, no polling); concurrent clicks in two pages are all counted; a
// page opened later shows the current counts; a malformed vote is refused
// with an error and changes nothing; both pages come back by themselves
// after a server restart.
//
//   node tests/browser/vote.mjs http://127.0.0.1:PORT/ <screenshot-dir>

import { check, checkExtensions, eventually, ok, restartServer, scenario } from './lib.mjs';

// The server's default candidates (`--candidates` not given).
const CANDIDATES = ['Rust', 'Go', 'Zig', 'C++'];

await scenario('vote', async ({ url, origin, extensions, openPage, screenshot }) => {
  const wsUrl = origin.replace(/^http/, 'ws') + '/ws';

  /// What a vote page shows: the status, each candidate with its count, the total, the error line.
  const view = (page) =>
    page.evaluate(() => ({
      status: document.getElementById('status').textContent,
      rows: [...document.querySelectorAll('#candidates li')].map((li, i) => ({
        name: li.dataset.name,
        button: document.getElementById(`vote-${i}`)?.textContent,
        enabled: !document.getElementById(`vote-${i}`)?.disabled,
        count: document.getElementById(`count-${i}`)?.textContent,
      })),
      total: document.getElementById('total').textContent,
      error: document.getElementById('error').textContent,
    }));

  /// Waits until `page` is connected and shows `counts` (one per candidate) and their total.
  async function waitForCounts(page, counts, what, timeout) {
    return eventually(`${page.label}: ${what}: counts ${JSON.stringify(counts)}`, async () => {
      const v = await view(page);
      const good =
        v.status === 'connected' &&
        JSON.stringify(v.rows.map((r) => r.name)) === JSON.stringify(CANDIDATES) &&
        v.rows.every((r, i) => r.button === CANDIDATES[i] && r.enabled && r.count === String(counts[i])) &&
        v.total === String(counts.reduce((sum, n) => sum + n, 0));
      return { ok: good, seen: v };
    }, timeout);
  }

  const open = async (label) => {
    const page = await openPage(label);
    page.requests = [];
    await page.goto(url);
    page.on('request', (request) => page.requests.push(request.url()));
    return page;
  };

  // --- Two pages, both at zero.
  const a = await open('page A');
  const b = await open('page B');
  const counts = [0, 0, 0, 0];
  for (const page of [a, b]) await waitForCounts(page, counts, 'on connect');
  check((await a.locator('#url').textContent()) === wsUrl, `#url shows ${await a.locator('#url').textContent()}`);
  ok(`two pages connected, both show ${CANDIDATES.join(', ')} at 0`);

  // The pages are never reloaded: a marker set now must survive every update.
  for (const page of [a, b]) await page.evaluate(() => { window.__notReloaded = true; });

  // --- A click in A changes B at once; a click in B changes A.
  const started = Date.now();
  await a.locator('#vote-0').click();
  counts[0] += 1;
  await waitForCounts(b, counts, 'after A voted Rust', 2000);
  const latency = Date.now() - started;
  await waitForCounts(a, counts, 'after A voted Rust');
  for (const _ of [1, 2]) {
    await b.locator('#vote-2').click();
    counts[2] += 1;
    await waitForCounts(a, counts, 'after B voted Zig', 2000);
  }
  await waitForCounts(b, counts, 'after B voted Zig twice');
  ok(`a click in A shows in B after ${latency} ms; two clicks in B show in A`);

  // --- Concurrent clicks in both pages: every vote counted, both agree.
  const clicks = 15;
  const clickMany = async (page) => {
    for (let i = 0; i < clicks; i++) await page.locator('#vote-1').click();
  };
  await Promise.all([clickMany(a), clickMany(b)]);
  counts[1] += 2 * clicks;
  for (const page of [a, b]) await waitForCounts(page, counts, `after ${clicks} Go clicks in each page at once`);
  ok(`${2 * clicks} concurrent clicks in two pages: Go = ${counts[1]} in both`);

  // Pushed over the WebSocket: B sent exactly its own 2 + 15 votes and made
  // no HTTP request after loading (no polling, no reload).
  for (const [page, votes] of [[a, 1 + clicks], [b, 2 + clicks]]) {
    check(page.wsSent.length === votes, `${page.label}: sent ${page.wsSent.length} WebSocket messages, expected its ${votes} votes`);
    check(page.requests.length === 0, `${page.label}: HTTP requests after load: ${JSON.stringify(page.requests)}`);
    check(await page.evaluate(() => window.__notReloaded === true), `${page.label}: the page was reloaded`);
    const votes_ = page.wsSent.map((p) => JSON.parse(p));
    check(votes_.every((v) => Object.keys(v).length === 1 && CANDIDATES.includes(v.vote)), `${page.label}: sent ${JSON.stringify(votes_)}`);
  }
  ok('every update was pushed: no reload, no HTTP request, no message sent but the votes');

  // --- A third page opened now shows the current counts at once.
  const c = await open('page C (opened later)');
  await waitForCounts(c, counts, 'on connect');
  const first = JSON.parse(c.wsReceived[0]);
  check(
    first.type === 'counts' && JSON.stringify(first.candidates.map((x) => x.votes)) === JSON.stringify(counts),
    `page C: the first message is not the current counts: ${c.wsReceived[0]}`,
  );
  ok(`a page opened later shows the current counts ${JSON.stringify(counts)} from its first message`);

  // --- A malformed vote (sent raw: the page only sends valid ones) is
  // refused with an error in that page, and changes no count anywhere.
  await c.evaluate(() => {
    const socket = window.__sockets.find((s) => s.readyState === WebSocket.OPEN);
    socket.send(JSON.stringify({ vote: 'COBOL' }));
    socket.send('not json');
  });
  await eventually('page C: an error for the malformed votes', async () => {
    const v = await view(c);
    return { ok: v.error !== '', seen: v.error };
  });
  const error = (await view(c)).error;
  // A valid vote after them: once it shows, the malformed ones were handled.
  await c.locator('#vote-3').click();
  counts[3] += 1;
  for (const page of [a, b, c]) await waitForCounts(page, counts, 'after the malformed votes and one C++ vote');
  for (const page of [a, b]) check((await view(page)).error === '', `${page.label}: shows C's error`);
  const errors = c.wsReceived.map((p) => JSON.parse(p)).filter((e) => e.type === 'error');
  check(errors.length === 2, `page C: ${errors.length} error messages on the wire, expected 2: ${JSON.stringify(errors)}`);
  ok(`malformed votes refused ("${error}"), counts unchanged; a valid vote after them counted once`);

  for (const page of [a, b, c]) await checkExtensions(page, wsUrl, extensions);
  await c.waitForTimeout(300); // the bars' 0.2 s width transition
  await screenshot(c, 'vote.png');

  // --- The server restarts (its counts start over): the pages reconnect
  // by themselves and show the new counts, and votes flow again.
  await c.context().close();
  await restartServer();
  const fresh = [0, 0, 0, 0];
  for (const page of [a, b]) await waitForCounts(page, fresh, 'after the server restart', 8000);
  await b.locator('#vote-0').click();
  fresh[0] += 1;
  for (const page of [a, b]) await waitForCounts(page, fresh, 'a vote after the restart');
  ok('after a server restart both pages reconnected by themselves and count again');
});
