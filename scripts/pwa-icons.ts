// Renders the demo's app icon (web-demo/public/icons/icon.svg) to the PNG
// sizes the web app manifest lists, with headless Chromium:
//   npx tsx scripts/pwa-icons.ts
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { chromium } from 'playwright-core';

const dir = resolve(import.meta.dirname, '../web-demo/public/icons');
const svg = readFileSync(resolve(dir, 'icon.svg'), 'utf8');
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  for (const size of [192, 512]) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    await page.setContent(`<style>html,body{margin:0;background:transparent}svg{display:block;width:${size}px;height:${size}px}</style>${svg}`);
    await page.screenshot({ path: resolve(dir, `icon-${size}.png`), omitBackground: true });
    await page.close();
  }
} finally {
  await browser.close();
}
