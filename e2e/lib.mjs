// Shared helpers for the browser tests: launch Debian's Chromium through playwright-core
// (never a downloaded browser), read the target URLs, serve the second-origin blog page.
import http from 'node:http';
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// Launch flags: headless, no sandbox (CI runs as root), and nothing that phones home.
export const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// chatURL is the chat mount, e.g. http://127.0.0.1:8080/chat/ (always with a trailing slash).
export function chatURL() {
  const u = process.env.EDGE_CHAT_URL;
  if (!u) throw new Error('EDGE_CHAT_URL is not set (e.g. http://127.0.0.1:8080/chat/)');
  return u.endsWith('/') ? u : u + '/';
}

// altChatURLs are more chat mounts to check the UI language on (EDGE_CHAT_URL_ALT, comma
// separated), e.g. a second hub with the other nickname_locale.
export function altChatURLs() {
  return (process.env.EDGE_CHAT_URL_ALT || '').split(',').filter(Boolean).map((u) => (u.endsWith('/') ? u : u + '/'));
}

// launch starts a browser with a fresh, throwaway user-data-dir (playwright creates one per
// launch and deletes it on close); every newContext() is a separate, empty profile.
export async function launch() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/browser-prereqs.sh`);
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 60000 });
}

export const uniq = (prefix) => prefix + '-' + randomBytes(4).toString('hex');

// serveBlog serves a sample blog page embedding the widget from another origin. The address comes
// from EDGE_BLOG_ADDR (host:port, so the chat can list http://host:port in chat.origins), else
// 127.0.0.1 on a free port. Returns { origin, url(room), close() }.
export async function serveBlog() {
  const tpl = fs.readFileSync(new URL('./fixtures/blog.html', import.meta.url), 'utf8');
  const [host, port] = (process.env.EDGE_BLOG_ADDR || '127.0.0.1:0').split(':');
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://blog');
    if (u.pathname !== '/' && u.pathname !== '/plain') { res.writeHead(404); res.end('not found'); return; }
    const room = /^[A-Za-z0-9_.:-]{1,64}$/.test(u.searchParams.get('room') || '') ? u.searchParams.get('room') : 'lobby';
    const tag = u.pathname === '/plain' ? '' :
      `<script src="${chatURL()}widget.js" data-room="${room}" defer></script>`;
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(tpl.replace('<!--WIDGET-->', tag));
  });
  await new Promise((ok, fail) => { server.once('error', fail); server.listen(Number(port), host, ok); });
  const origin = `http://${host}:${server.address().port}`;
  if (new URL(chatURL()).origin === origin) throw new Error('the blog page must be on a different origin than the chat');
  return {
    origin,
    url: (room, path = '/') => `${origin}${path}?room=${encodeURIComponent(room)}`,
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }),
  };
}

// enter opens the chat page for a room in a fresh context and clicks "enter".
export async function enterChat(browser, room, opts = {}) {
  const context = await browser.newContext(opts);
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await page.goto(chatURL() + '?room=' + encodeURIComponent(room));
  await page.locator('#enter-btn:not([disabled])').click();
  await page.locator('#input').waitFor({ state: 'visible' });
  await page.locator('#me .nick').waitFor();
  const nickname = await page.locator('#me .nick').textContent();
  return { context, page, dialogs, nickname };
}

// say types a message and presses Enter, then waits until the server acknowledged it.
export async function say(page, text) {
  await page.locator('#input').fill(text);
  await page.locator('#input').press('Enter');
  await page.waitForFunction(() => !document.querySelector('#msgs .msg.pending, #msgs .msg.failed'), null, { timeout: 30000 });
}

// bubbles lists the text of every message in view, oldest first.
export const bubbles = (page) => page.locator('#msgs .msg .bubble').allTextContents();
