// What a page's WebSocket negotiates, alone: opens the page given (with
// `?name=tester`, which the chat page joins with and the others ignore),
// waits for its WebSocket to open, and checks Chromium's permessage-deflate
// offer and the server's answer (checkExtensions). tests/browser.rs runs it
// against each example started with --no-deflate; the full scenarios
// (echo.mjs, chat.mjs, vote.mjs) check the answer of the default servers.
//
//   node tests/browser/extensions.mjs http://127.0.0.1:PORT/ <screenshot-dir> <extensions>

import { checkExtensions, eventually, ok, scenario } from './lib.mjs';

await scenario('extensions', async ({ url, origin, extensions, openPage }) => {
  const wsUrl = origin.replace(/^http/, 'ws') + '/ws';
  const page = await openPage('page');
  await page.goto(`${url}?name=tester`);
  await eventually('the page\'s WebSocket opens', async () => {
    const open = await page.evaluate(() => window.__sockets.filter((s) => s.readyState === WebSocket.OPEN).length);
    return { ok: open === 1, seen: open };
  });
  ok(`the page at ${url} opened its WebSocket`);
  await checkExtensions(page, wsUrl, extensions);
});
