// edge chat widget. Embed with:
//   <script src="https://chat.example.com/chat/widget.js" data-room="lobby" defer></script>
// Adds a floating button (bottom-right; bottom-left on narrow screens) that opens the chat in an
// iframe. Everything lives in one closed-over scope and one shadow root: no globals, no page CSS.
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script || !script.src) return;
  let base;
  try { base = new URL('./', script.src); } catch { return; }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') return;
  const chatOrigin = base.origin;
  const roomAttr = script.getAttribute('data-room') || 'lobby';
  const room = /^[A-Za-z0-9_.:-]{1,64}$/.test(roomAttr) ? roomAttr : 'lobby';
  const src = base.href + '?room=' + encodeURIComponent(room);
  const ko = (document.documentElement.lang || navigator.language || '').toLowerCase().startsWith('ko');
  const label = { open: ko ? '채팅 열기' : 'Open chat', close: ko ? '채팅 닫기' : 'Close chat', title: ko ? '채팅' : 'Chat' };
  const colorAttr = script.getAttribute('data-color');
  const color = colorAttr && window.CSS && CSS.supports('color', colorAttr) ? colorAttr : '#2563eb';

  const css = `
:host{all:initial}
.btn{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:56px;height:56px;border:0;border-radius:50%;
  background:var(--c);color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;
  justify-content:center;padding:0;transition:transform .15s ease}
.btn:hover{transform:scale(1.06)}
.btn:focus-visible{outline:3px solid var(--c);outline-offset:3px}
.btn svg{width:26px;height:26px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}
.btn .x,.open .btn .chat{display:none}
.open .btn .x{display:block}
.panel{position:fixed;right:20px;bottom:88px;z-index:2147483000;width:370px;height:min(600px,calc(100vh - 112px));
  border-radius:14px;overflow:hidden;background:#fff;box-shadow:0 10px 40px rgba(0,0,0,.3);transform-origin:100% 100%;
  opacity:0;transform:translateY(12px) scale(.96);visibility:hidden;pointer-events:none;
  transition:opacity .18s ease,transform .18s ease,visibility 0s linear .18s}
.open .panel{opacity:1;transform:none;visibility:visible;pointer-events:auto;transition:opacity .18s ease,transform .18s ease}
iframe{display:block;width:100%;height:100%;border:0}
@media (max-width:600px){
  .btn{right:auto;left:16px;bottom:16px}
  .panel{right:8px;left:8px;width:auto;bottom:80px;height:calc(100vh - 96px);transform-origin:0 100%}
}
@media (prefers-reduced-motion:reduce){.btn,.panel,.open .panel{transition:none}}`;

  const icon = (cls, d) => {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('class', cls);
    svg.setAttribute('aria-hidden', 'true');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', d);
    svg.append(p);
    return svg;
  };

  function mount() {
    const host = document.createElement('div');
    host.setAttribute('data-edge-chat', room);
    const root = host.attachShadow({ mode: 'open' });
    if (root.adoptedStyleSheets && typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
    } else {
      const style = document.createElement('style');
      style.textContent = css;
      root.append(style);
    }
    const wrap = document.createElement('div');
    wrap.style.setProperty('--c', color);
    const panel = document.createElement('div');
    panel.className = 'panel';
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'btn';
    btn.setAttribute('aria-label', label.open);
    btn.setAttribute('aria-expanded', 'false');
    btn.append(icon('chat', 'M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z'), icon('x', 'M6 6l12 12M18 6L6 18'));
    wrap.append(panel, btn);
    root.append(wrap);

    let frame = null;
    let open = false;
    const set = (next) => {
      open = next;
      if (open && !frame) { // the chat loads on first open only
        frame = document.createElement('iframe');
        frame.src = src;
        frame.title = label.title;
        frame.referrerPolicy = 'strict-origin-when-cross-origin';
        panel.append(frame);
      }
      wrap.classList.toggle('open', open);
      btn.setAttribute('aria-expanded', String(open));
      btn.setAttribute('aria-label', open ? label.close : label.open);
      panel.setAttribute('aria-hidden', String(!open));
      if (open) frame.focus();
    };
    btn.addEventListener('click', () => set(!open));
    document.addEventListener('keydown', (e) => {
      if (open && e.key === 'Escape') { set(false); btn.focus(); }
    });
    window.addEventListener('message', (e) => { // Escape pressed inside the chat iframe
      if (open && frame && e.source === frame.contentWindow && e.origin === chatOrigin &&
        e.data && e.data.type === 'edge-chat:close') { set(false); btn.focus(); }
    });
    document.body.append(host);
  }

  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount, { once: true });
})();
