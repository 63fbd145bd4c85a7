// Starts headless Chromium the way the scenarios do and loads a page.
// Run by tests/browser/setup.sh (a broken install fails there) and by
// tests/browser.rs before any scenario (a missing install fails with the
// setup hint). Exits 0 and prints the browser version on success.

import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './lib.mjs';

const watchdog = setTimeout(() => {
  console.error('headless Chromium did not load a page within 20 s');
  process.exit(1);
}, 20000);
try {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 15000 });
  const page = await browser.newPage();
  await page.setContent('<p id="p">你好 🦀</p>');
  const text = await page.locator('#p').textContent();
  if (text !== '你好 🦀') throw new Error(`the page shows ${JSON.stringify(text)}`);
  console.log(`browser: headless Chromium ${browser.version()} starts and renders a page`);
  await browser.close();
  clearTimeout(watchdog);
} catch (error) {
  console.error(`browser: cannot start headless Chromium: ${error.message}`);
  process.exit(1);
}
