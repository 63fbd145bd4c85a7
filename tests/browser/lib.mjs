// Shared harness of the headless Chromium scenarios run by tests/browser.rs.
//
//   node tests/browser/<scenario>.mjs <page-url> <screenshot-dir> <extensions>
//
// <extensions> is the Sec-WebSocket-Extensions the server must answer
// Chromium's permessage-deflate offer with ("" for none: the server was
// started with --no-deflate); see checkExtensions.
//
// Each scenario drives Debian's /usr/bin/chromium through playwright-core
// (installed by tests/browser/setup.sh; no browser download, ever), asserts
// what each page shows, prints one line per check and ends with
// "all checks passed". The first failed check prints "FAIL: <what>" with
// what the pages showed, and the process exits 1.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/// Headless, no sandbox (we run as root in CI), nothing that reaches beyond
/// loopback. `chromium.launch` adds a fresh temporary user data dir.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/// How long one wait for something on a page may take.
export const STEP_TIMEOUT_MS = 5000;

/// How long a whole scenario may take before it gives up on its own (the
/// Rust test kills it a little later).
const SCENARIO_TIMEOUT_MS = 45000;

/// Runs `body({ browser, url, origin, extensions, openPage, screenshot })`
/// in a fresh headless Chromium. `url` and `extensions` are the page URL and
/// the expected Sec-WebSocket-Extensions given on the command line. Exits 0
/// when `body` returns and no page logged a JavaScript error, 1 otherwise.
export async function scenario(name, body) {
  const [url, screenshotDir, extensions] = process.argv.slice(2);
  if (!url || !screenshotDir || extensions === undefined || process.argv.length !== 5) {
    console.error(`usage: node ${name}.mjs <page-url> <screenshot-dir> <extensions>`);
    process.exit(2);
  }
  const pages = [];
  let browser = null;
  const watchdog = setTimeout(() => {
    console.log(`FAIL: ${name} did not finish within ${SCENARIO_TIMEOUT_MS} ms`);
    process.exit(1);
  }, SCENARIO_TIMEOUT_MS);
  try {
    const started = Date.now();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS, ...spkiPin()],
      timeout: 15000,
    });
    console.log(`launched Chromium ${browser.version()} in ${Date.now() - started} ms`);
    const context = {
      browser,
      url,
      origin: new URL(url).origin,
      extensions,
      openPage: async (label) => {
        const page = await openPage(browser, label);
        pages.push(page);
        return page;
      },
      screenshot: async (page, file) => {
        mkdirSync(screenshotDir, { recursive: true });
        const path = join(screenshotDir, file);
        await page.screenshot({ path, fullPage: true });
        console.log(`screenshot: ${path}`);
      },
    };
    await body(context);
    for (const page of pages) {
      check(page.errors.length === 0, `${page.label}: JavaScript errors on the page: ${page.errors.join(' | ')}`);
    }
    console.log(`${name}: all checks passed`);
    await browser.close();
    clearTimeout(watchdog);
  } catch (error) {
    console.log(`FAIL: ${error instanceof CheckFailed ? error.message : error.stack || error}`);
    for (const page of pages) {
      if (page.errors.length) console.log(`${page.label}: page errors: ${page.errors.join(' | ')}`);
      if (page.console.length) console.log(`${page.label}: console: ${page.console.join(' | ')}`);
    }
    if (browser) await browser.close().catch(() => {});
    process.exit(1);
  }
}

export class CheckFailed extends Error {}

/// CHROMIUM_SPKI_PIN (set by tests/tls_interop.rs): the base64 SHA-256 of a
/// test certificate's public key, which this Chromium then accepts without
/// a trusted CA (the launch's fresh user data dir makes the flag apply).
function spkiPin() {
  const pin = process.env.CHROMIUM_SPKI_PIN;
  return pin ? [`--ignore-certificate-errors-spki-list=${pin}`] : [];
}

/// Asks tests/browser.rs to stop the example server and start it again on
/// the same port; resolves once it is listening again.
export async function restartServer() {
  const lines = createInterface({ input: process.stdin });
  let timer;
  try {
    const restarted = new Promise((resolve, reject) => {
      lines.on('line', (line) => line === 'server-restarted' && resolve());
      lines.on('close', () => reject(new CheckFailed('stdin closed before the server restarted (run by tests/browser.rs?)')));
      timer = setTimeout(() => reject(new CheckFailed('the server was not restarted within 10 s')), 10000);
    });
    console.log('restart-server');
    await restarted;
    ok('the server was restarted on the same port');
  } finally {
    clearTimeout(timer);
    lines.close();
  }
}

/// Fails the scenario with `message` unless `condition` holds; prints the
/// check when it passes.
export function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

/// Prints a passed check.
export function ok(message) {
  console.log(`ok: ${message}`);
}

/// Polls `probe()` until it returns `{ ok: true }`, at most `timeout` ms;
/// then fails with `what` and the last `seen` value the probe reported.
export async function eventually(what, probe, timeout = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await probe();
    if (last.ok) return last;
    if (Date.now() > deadline) {
      throw new CheckFailed(`${what} (waited ${timeout} ms); seen: ${JSON.stringify(last.seen)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/// A page in its own browser context (its own cookies and storage, as a
/// separate user would have). The page keeps a list of its JavaScript errors
/// and console messages, and every WebSocket the page creates is recorded in
/// `window.__sockets` so a scenario can read `extensions` and `protocol`
/// whatever the page's own variables are called.
async function openPage(browser, label) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  page.label = label;
  page.errors = [];
  page.console = [];
  page.on('pageerror', (error) => page.errors.push(String(error)));
  page.on('console', (message) => page.console.push(`${message.type()}: ${message.text()}`));
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  await context.addInitScript(() => {
    const Native = window.WebSocket;
    window.__sockets = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.__sockets.push(this);
      }
    };
  });
  // Every message the page's sockets send and receive, as the browser saw
  // it: a string for text, a Buffer for binary.
  page.wsSent = [];
  page.wsReceived = [];
  page.on('websocket', (socket) => {
    socket.on('framesent', (frame) => page.wsSent.push(frame.payload));
    socket.on('framereceived', (frame) => page.wsReceived.push(frame.payload));
  });
  // The opening handshakes, from the DevTools protocol: the request headers
  // Chromium sent and the response the server gave.
  page.handshakes = [];
  const devtools = await context.newCDPSession(page);
  await devtools.send('Network.enable');
  devtools.on('Network.webSocketWillSendHandshakeRequest', ({ requestId, request }) => {
    page.handshakes.push({ requestId, request: lowerCaseKeys(request.headers), response: null });
  });
  devtools.on('Network.webSocketHandshakeResponseReceived', ({ requestId, response }) => {
    const handshake = page.handshakes.find((h) => h.requestId === requestId);
    if (handshake) handshake.response = { status: response.status, headers: lowerCaseKeys(response.headers) };
  });
  return page;
}

function lowerCaseKeys(headers) {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/// `extensions` and `protocol` of every WebSocket the page opened that is
/// open now, with its URL.
export async function openSockets(page) {
  return page.evaluate(() =>
    window.__sockets
      .filter((s) => s.readyState === WebSocket.OPEN)
      .map((s) => ({ url: s.url, extensions: s.extensions, protocol: s.protocol })),
  );
}

/// Asserts that Chromium offered permessage-deflate in every handshake the
/// page made, that every 101 answered it with exactly `extensions` in
/// Sec-WebSocket-Extensions (no such header when `extensions` is ""), and
/// that the page has exactly one open WebSocket, whose URL starts with
/// `wsUrlPrefix` and whose `extensions` (what Chromium put into use) is
/// `extensions` too.
export async function checkExtensions(page, wsUrlPrefix, extensions) {
  // What went over the wire: Chromium's offer, the 101's answer.
  // (A reconnect attempt that found no server has no response.)
  const answered = page.handshakes.filter((h) => h.response);
  check(answered.length >= 1, `${page.label}: no WebSocket handshake response recorded`);
  for (const { request } of page.handshakes) {
    const offer = request['sec-websocket-extensions'] || '';
    check(
      offer.includes('permessage-deflate'),
      `${page.label}: Chromium did not offer permessage-deflate (request headers ${JSON.stringify(request)})`,
    );
  }
  for (const { response } of answered) {
    check(response.status === 101, `${page.label}: handshake status ${response.status}`);
    check(
      'sec-websocket-accept' in response.headers,
      `${page.label}: the 101's headers as recorded lack Sec-WebSocket-Accept: ${JSON.stringify(response.headers)}`,
    );
    if (extensions === '') {
      check(
        !('sec-websocket-extensions' in response.headers),
        `${page.label}: the 101 accepted an extension: ${response.headers['sec-websocket-extensions']}`,
      );
    } else {
      check(
        response.headers['sec-websocket-extensions'] === extensions,
        `${page.label}: the 101 answered extensions ${JSON.stringify(response.headers['sec-websocket-extensions'])}, expected ${JSON.stringify(extensions)}`,
      );
    }
  }
  const offer = JSON.stringify(page.handshakes[0].request['sec-websocket-extensions']);
  const answer = extensions === '' ? 'declined it' : `answered ${JSON.stringify(extensions)}`;
  ok(`${page.label}: Chromium offered ${offer} in ${page.handshakes.length} handshake(s), every 101 ${answer}`);

  const sockets = await openSockets(page);
  check(sockets.length === 1, `${page.label}: expected one open WebSocket, found ${JSON.stringify(sockets)}`);
  const [socket] = sockets;
  check(socket.url.startsWith(wsUrlPrefix), `${page.label}: WebSocket URL ${socket.url}, expected ${wsUrlPrefix}…`);
  check(
    socket.extensions === extensions,
    `${page.label}: ws.extensions is ${JSON.stringify(socket.extensions)}, expected ${JSON.stringify(extensions)}`,
  );
  ok(`${page.label}: WebSocket ${socket.url} open, ws.extensions === ${JSON.stringify(extensions)}`);
}
