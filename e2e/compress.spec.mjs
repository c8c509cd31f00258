// Compression as the browser sees it: a static page and a page proxied to an app both
// arrive compressed, and Chromium decodes them (what it reports, not what curl says).
//   EDGE_SITE_URL  edge's site root, e.g. http://127.0.0.1:8080/ ; it serves
//                  /static/index.html from a directory and /app/page from an app.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './lib.mjs';

const root = () => {
  const u = process.env.EDGE_SITE_URL;
  if (!u) throw new Error('EDGE_SITE_URL is not set (e.g. http://127.0.0.1:8080/)');
  return u.endsWith('/') ? u : u + '/';
};

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

for (const [name, path] of [['static page', 'static/index.html'], ['proxied page', 'app/page']]) {
  test(`${name} arrives compressed and decoded`, { timeout: 60000 }, async () => {
    const page = await browser.newPage();
    try {
      const resp = await page.goto(root() + path);
      assert.equal(resp.status(), 200);
      const enc = resp.headers()['content-encoding'];
      assert.ok(['gzip', 'br', 'zstd'].includes(enc), `Content-Encoding as Chromium reports it: ${enc}`);
      assert.match(resp.headers()['vary'] || '', /accept-encoding/i);
      const sent = (await resp.request().allHeaders())['accept-encoding'];
      // Navigation timing: bytes on the wire vs bytes after decoding, measured by Chromium.
      const t = await page.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        return { encoded: n.encodedBodySize, decoded: n.decodedBodySize };
      });
      console.log(`${name}: Accept-Encoding ${sent} -> ${enc}, ${t.encoded} bytes on the wire, ${t.decoded} decoded`);
      assert.ok(t.encoded > 0 && t.encoded < t.decoded / 2, `encoded ${t.encoded} vs decoded ${t.decoded}`);
      assert.match(await page.locator('h1').first().innerText(), /edge/);
    } finally {
      await page.close();
    }
  });
}
