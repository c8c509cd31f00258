// edge chat page. Plain JS, no build step. Protocol: docs/chat-ui.md and DESIGN.md (Chat).
// Every piece of user content goes through textContent; nothing user-supplied is parsed as HTML.
(() => {
  'use strict';

  const ROOM_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
  const AVATAR_RE = /^[A-Za-z0-9_-]{1,32}$/;
  const PAGE = 50; // messages per scroll-back request
  const MAX_SEND_TRIES = 8; // "unavailable" retries before a message is marked failed
  const ACK_TIMEOUT = 15000; // resend (same client_id) if no ack arrives in this time
  const KEY = 'edge-chat:';

  const STR = {
    en: {
      title: 'Chat', enterText: 'Join as an anonymous visitor with a random nickname. No sign-up.',
      enter: 'Enter', entering: 'Connecting…', online: (n) => n + ' online', placeholder: 'Message',
      send: 'Send', sending: 'Sending…', retrying: 'Server busy, retrying…', failed: 'Not sent.',
      retry: 'Retry', reconnecting: 'Reconnecting…', start: 'Start of the conversation',
      loading: 'Loading…', newer: 'New messages ↓', sessionError: 'Could not connect. Please try again.',
      you: 'you', deleted: 'Message deleted.', held: 'Held for review.', banned: 'You are banned from this chat.',
    },
    ko: {
      title: '채팅', enterText: '가입 없이 익명으로 참여해요. 닉네임은 무작위로 정해집니다.',
      enter: '입장하기', entering: '연결 중…', online: (n) => n + '명 접속 중', placeholder: '메시지 입력',
      send: '보내기', sending: '보내는 중…', retrying: '서버가 바빠요. 다시 보내는 중…', failed: '전송 실패',
      retry: '다시 보내기', reconnecting: '다시 연결하는 중…', start: '대화의 시작입니다',
      loading: '불러오는 중…', newer: '새 메시지 ↓', sessionError: '연결하지 못했어요. 다시 시도해 주세요.',
      you: '나', deleted: '삭제된 메시지입니다.', held: '검토 대기 중', banned: '이 채팅에서 차단되었어요.',
    },
  };

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls) => { const e = document.createElement(tag); if (cls) e.className = cls; return e; };
  const mount = location.pathname.replace(/[^/]*$/, '') || '/';
  const roomParam = new URLSearchParams(location.search).get('room');
  const room = roomParam && ROOM_RE.test(roomParam) ? roomParam : 'lobby';

  const S = {
    t: STR.en, locale: 'en', me: null, token: null, expires: 0,
    ws: null, gen: 0, joined: false, opened: false, failedOpens: 0, renew: false, backoff: 0, reconnectTimer: 0,
    byId: new Map(), // String(id) -> <li>
    deleted: new Set(), // ids an operator deleted (may come before the message)
    pending: new Map(), // client_id -> {cid, content, li, tries, sentAt, timer}
    lastId: null, firstId: null, joinAfter: null, // newest / oldest confirmed ids seen; `after` of the last join
    atStart: false, loadingOlder: false, missingAvatars: new Set(),
  };

  // ---- small helpers ----
  const store = {
    get(k) { try { return localStorage.getItem(KEY + k); } catch { return null; } },
    set(k, v) { try { localStorage.setItem(KEY + k, v); } catch { /* storage blocked: session only */ } },
  };
  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16)); // insecure contexts (plain http) lack randomUUID
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }
  function big(id) { try { return BigInt(id); } catch { return null; } }
  function cmpId(a, b) { const x = big(a), y = big(b); return x === null || y === null ? 0 : x < y ? -1 : x > y ? 1 : 0; }
  function toMillis(v) {
    if (typeof v === 'number') return v < 1e12 ? v * 1000 : v;
    const n = Date.parse(v); return Number.isNaN(n) ? 0 : n;
  }
  function firstChar(s) {
    s = String(s || '?').trim() || '?';
    if (typeof Intl !== 'undefined' && Intl.Segmenter) {
      for (const { segment } of new Intl.Segmenter().segment(s)) return segment.toUpperCase();
    }
    return Array.from(s)[0].toUpperCase();
  }
  function hue(s) { let h = 0; for (const c of String(s)) h = (h * 31 + c.codePointAt(0)) >>> 0; return h % 360; }
  const timeFmt = () => new Intl.DateTimeFormat(S.locale, { hour: '2-digit', minute: '2-digit' });

  function avatar(key, nickname, seed) {
    const fallback = () => {
      const f = el('span', 'av fb');
      f.textContent = firstChar(nickname);
      f.style.setProperty('background', 'hsl(' + hue(seed || nickname) + ' 55% 48%)');
      f.setAttribute('aria-hidden', 'true');
      return f;
    };
    if (typeof key !== 'string' || !AVATAR_RE.test(key) || S.missingAvatars.has(key)) return fallback();
    const img = el('img', 'av');
    img.alt = ''; img.width = 34; img.height = 34; img.decoding = 'async';
    img.addEventListener('error', () => { S.missingAvatars.add(key); img.replaceWith(fallback()); }, { once: true });
    img.src = mount + 'static/avatars/' + key + '.svg';
    return img;
  }

  // ---- status line ----
  let statusTimer = 0;
  function status(text, isError, ttl) {
    const s = $('status');
    clearTimeout(statusTimer);
    s.hidden = !text; s.textContent = text || ''; s.classList.toggle('err', !!isError);
    if (text && ttl) statusTimer = setTimeout(() => status(''), ttl);
  }

  // ---- rendering ----
  function render(m, mine) {
    const li = el('li', 'msg' + (mine ? ' mine' : ''));
    const body = el('div', 'body');
    const meta = el('div', 'meta');
    const nick = el('span', 'nick');
    nick.textContent = String(m.nickname || '');
    const time = el('time');
    const ms = toMillis(m.created_at);
    if (ms) { time.dateTime = new Date(ms).toISOString(); time.textContent = timeFmt().format(ms); }
    meta.append(nick, time);
    const bubble = el('div', 'bubble');
    bubble.textContent = String(m.content ?? '');
    body.append(meta, bubble);
    li.append(avatar(m.avatar, m.nickname, m.sender_id), body);
    if (m.id != null) li.dataset.id = String(m.id);
    if (m.deleted || (m.id != null && S.deleted.has(String(m.id)))) showDeleted(li);
    return li;
  }

  function showDeleted(li) { li.classList.add('deleted'); li.querySelector('.bubble').textContent = S.t.deleted; }

  const log = () => $('log');
  function nearBottom() { const l = log(); return l.scrollHeight - l.scrollTop - l.clientHeight < 80; }
  function toBottom() { const l = log(); l.scrollTop = l.scrollHeight; $('jump').hidden = true; }

  // Confirmed messages are kept in id order; pending ones of our own sit after them.
  function placeConfirmed(li, id) {
    const list = $('msgs');
    let before = list.querySelector('.msg.pending, .msg.failed');
    let prev = before ? before.previousElementSibling : list.lastElementChild;
    while (prev && prev.dataset.id && cmpId(prev.dataset.id, id) > 0) { before = prev; prev = prev.previousElementSibling; }
    list.insertBefore(li, before);
  }

  function noteId(id) {
    if (S.lastId === null || cmpId(id, S.lastId) > 0) S.lastId = id;
    if (S.firstId === null || cmpId(id, S.firstId) < 0) S.firstId = id;
  }

  // addMessage merges one server message into the view; returns true if it was new.
  function addMessage(m) {
    if (!m || m.id == null || (m.room && m.room !== room)) return false;
    const key = String(m.id);
    if (S.byId.has(key)) return false;
    const mine = S.me && m.sender_id === S.me.id;
    const p = mine && m.client_id ? S.pending.get(m.client_id) : null;
    const li = render(m, mine);
    if (p) { settle(p); p.li.replaceWith(li); }
    S.byId.set(key, li);
    noteId(m.id);
    placeConfirmed(li, key);
    return true;
  }

  function addLive(messages, forceBottom) {
    const stick = forceBottom || nearBottom();
    let added = 0;
    for (const m of messages) if (addMessage(m)) added++;
    if (stick) toBottom();
    else if (added) { $('jump').hidden = false; }
  }

  // ---- sending ----
  function sendFrame(f) {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return false;
    S.ws.send(JSON.stringify(f));
    return true;
  }

  function transmit(p) {
    clearTimeout(p.timer);
    p.timer = 0;
    if (S.joined && sendFrame({ type: 'send', room, content: p.content, client_id: p.cid })) p.sentAt = Date.now();
    else p.sentAt = 0; // sent after the next join
  }

  function setState(p, cls, text, withRetry) {
    p.li.classList.remove('pending', 'failed');
    p.li.classList.add(cls);
    const st = p.li.querySelector('.state');
    st.textContent = text;
    if (withRetry) {
      const b = el('button');
      b.type = 'button'; b.textContent = S.t.retry;
      b.addEventListener('click', () => { p.tries = 0; setState(p, 'pending', S.t.sending); transmit(p); });
      st.append(b);
    }
  }

  function settle(p) { clearTimeout(p.timer); S.pending.delete(p.cid); }

  function submit() {
    const input = $('input');
    const content = input.value.trim();
    if (!content || !S.me) return;
    input.value = '';
    grow();
    const cid = uuid();
    const li = render({ nickname: S.me.nickname, avatar: S.me.avatar, sender_id: S.me.id, content, created_at: Date.now() }, true);
    li.querySelector('.body').append(el('div', 'state'));
    li.dataset.clientId = cid;
    const p = { cid, content, li, tries: 0, sentAt: 0, timer: 0 };
    S.pending.set(cid, p);
    setState(p, 'pending', S.t.sending);
    $('msgs').append(li);
    toBottom();
    transmit(p);
  }

  function onAck(f) {
    const p = S.pending.get(f.client_id);
    if (!p || f.id == null) return;
    settle(p);
    const key = String(f.id);
    if (S.byId.has(key)) { p.li.remove(); return; } // the broadcast got here first
    p.li.classList.remove('pending', 'failed');
    p.li.querySelector('.state').remove();
    p.li.dataset.id = key;
    S.byId.set(key, p.li);
    noteId(f.id);
    placeConfirmed(p.li, key);
  }

  function onSendError(p, f) {
    if (f.code === 'unavailable' || f.code === 'rate_limited') {
      p.tries++;
      if (p.tries > MAX_SEND_TRIES) { setState(p, 'failed', S.t.failed, true); return; }
      setState(p, 'pending', S.t.retrying);
      const delay = Math.min(30000, 500 * 2 ** (p.tries - 1)) * (0.75 + Math.random() / 2);
      clearTimeout(p.timer);
      p.timer = setTimeout(() => transmit(p), delay);
      return;
    }
    if (f.code === 'held') { setState(p, 'failed', S.t.held, false); return; }
    setState(p, 'failed', S.t.failed + (f.message ? ' ' + String(f.message) : ''), true);
  }

  // ---- connection ----
  async function session() {
    let anon = store.get('anon');
    if (!anon) { anon = uuid(); store.set('anon', anon); }
    const saved = (() => { try { return JSON.parse(store.get('session') || 'null'); } catch { return null; } })();
    if (saved && saved.anon === anon && saved.token && toMillis(saved.expires_at) - Date.now() > 60000) {
      S.token = saved.token; S.me = saved.user; S.expires = toMillis(saved.expires_at);
      return;
    }
    const res = await fetch(mount + 'api/session', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ anon_id: anon }),
    });
    if (!res.ok) throw new Error('session: HTTP ' + res.status);
    const s = await res.json();
    if (!s || typeof s.token !== 'string' || !s.user) throw new Error('session: bad response');
    S.token = s.token; S.me = s.user; S.expires = toMillis(s.expires_at);
    store.set('session', JSON.stringify({ anon, token: s.token, user: s.user, expires_at: s.expires_at }));
  }

  function showMe() {
    const me = $('me');
    const nick = el('span', 'nick');
    nick.textContent = String(S.me.nickname || '');
    nick.title = S.t.you;
    me.replaceChildren(nick, avatar(S.me.avatar, S.me.nickname, S.me.id));
  }

  function joinFrame() {
    const join = { type: 'join', room };
    if (S.lastId !== null) join.after = S.lastId;
    S.joinAfter = S.lastId;
    return join;
  }

  function connect() {
    const gen = ++S.gen;
    S.opened = false;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try { ws = new WebSocket(proto + '//' + location.host + mount + 'ws?token=' + encodeURIComponent(S.token)); } catch { reconnect(); return; }
    S.ws = ws;
    ws.addEventListener('open', () => {
      if (gen !== S.gen) return;
      S.opened = true; S.failedOpens = 0;
      sendFrame(joinFrame());
    });
    ws.addEventListener('message', (e) => {
      if (gen !== S.gen) return;
      let f;
      try { f = JSON.parse(e.data); } catch { return; }
      if (f && typeof f === 'object') onFrame(f);
    });
    ws.addEventListener('close', (e) => {
      if (gen !== S.gen) return;
      S.ws = null; S.joined = false;
      if (!S.opened) S.failedOpens++;
      if (e.code === 4001) S.renew = true; // token refused: get a new one before reconnecting
      if (e.code === 4003) { status(S.t.banned, true); $('online').hidden = true; return; } // banned: no retry
      reconnect();
    });
  }

  function reconnect() {
    status(S.t.reconnecting);
    $('online').hidden = true;
    clearTimeout(S.reconnectTimer);
    S.backoff = Math.min(15000, S.backoff ? S.backoff * 2 : 500);
    S.reconnectTimer = setTimeout(async () => {
      // A refused upgrade looks like a plain close: after two, or near expiry, fetch a fresh token.
      if (S.renew || S.failedOpens >= 2 || S.expires - Date.now() < 60000) {
        S.renew = false;
        store.set('session', '');
        try { await session(); S.failedOpens = 0; } catch { reconnect(); return; }
      }
      connect();
    }, S.backoff * (0.75 + Math.random() / 2));
  }

  function onFrame(f) {
    switch (f.type) {
      case 'welcome':
        if (f.user) { S.me = f.user; showMe(); }
        break;
      case 'history': {
        if (f.room !== room || !Array.isArray(f.messages)) break;
        const first = !S.joined && S.lastId === null;
        const after = S.joinAfter;
        S.joined = true; S.backoff = 0; S.joinTries = 0;
        status('');
        if (after === null && (f.has_more === false || f.messages.length === 0)) markStart();
        addLive(f.messages, first);
        // A capped replay (has_more) leaves a hole between what we had and what came: fill it.
        if (after !== null && f.has_more && f.messages.length) fillGap(after, f.messages[0].id);
        for (const p of S.pending.values()) if (!p.timer && !p.li.classList.contains('failed')) transmit(p);
        maybeLoadOlder();
        break;
      }
      case 'message':
        if (f.room === room && f.message) addLive([f.message], false);
        break;
      case 'ack':
        onAck(f);
        break;
      case 'deleted':
        if (f.room === room && f.id != null) { S.deleted.add(String(f.id)); const li = S.byId.get(String(f.id)); if (li) showDeleted(li); }
        break;
      case 'presence':
        if (f.room === room && Number.isFinite(f.online)) {
          const o = $('online'); o.hidden = false; o.textContent = S.t.online(f.online);
        }
        break;
      case 'error': {
        const p = f.client_id != null ? S.pending.get(f.client_id) : null;
        if (f.code === 'unauthorized') { S.renew = true; if (S.ws) S.ws.close(); break; }
        if (f.code === 'banned') { status(S.t.banned, true); break; } // 4003 follows
        if (p && f.code === 'not_joined') { p.sentAt = 0; sendFrame(joinFrame()); break; } // resent after history
        if (!p && f.code === 'unavailable' && f.room === room) {
          // The join was refused (store not reachable yet): no live messages come until a
          // join succeeds, so join again, with backoff, from the newest id seen.
          const n = S.joinTries = (S.joinTries || 0) + 1;
          const gen = S.gen;
          setTimeout(() => { if (gen === S.gen) sendFrame(joinFrame()); }, Math.min(10000, 250 * 2 ** n) * (0.75 + Math.random() / 2));
          status(String(f.message || f.code), true, 6000);
          break;
        }
        if (p) onSendError(p, f);
        else status(String(f.message || f.code || 'error'), true, 6000);
        break;
      }
    }
  }

  // ---- scroll back ----
  function markStart() { S.atStart = true; $('older').textContent = S.t.start; }

  async function fetchPage(before, limit) {
    const url = mount + 'api/rooms/' + encodeURIComponent(room) + '/messages?before=' + encodeURIComponent(before) + '&limit=' + limit;
    const res = await fetch(url, { headers: { Authorization: 'Bearer ' + S.token } });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const body = await res.json();
    return Array.isArray(body && body.messages) ? body.messages : [];
  }

  // fillGap loads the messages with after < id < before, newest page first.
  async function fillGap(after, before) {
    for (let cursor = before, tries = 0; ;) {
      let msgs;
      try { msgs = await fetchPage(cursor, 200); } catch {
        if (++tries > 6) { status(S.t.reconnecting, true, 4000); return; }
        await new Promise((r) => setTimeout(r, 500 * 2 ** tries));
        continue;
      }
      const keep = msgs.filter((m) => cmpId(m.id, after) > 0);
      addLive(keep, false);
      if (keep.length < msgs.length || msgs.length < 200) return;
      cursor = msgs[0].id;
    }
  }

  async function loadOlder() {
    if (S.loadingOlder || S.atStart || S.firstId === null) return;
    S.loadingOlder = true;
    $('older').textContent = S.t.loading;
    try {
      const msgs = await fetchPage(S.firstId, PAGE);
      const l = log();
      const fromBottom = l.scrollHeight - l.scrollTop;
      for (const m of msgs) addMessage(m);
      l.scrollTop = l.scrollHeight - fromBottom; // keep what the reader was looking at in place
      $('older').textContent = '';
      if (msgs.length < PAGE) markStart();
    } catch {
      $('older').textContent = '';
      S.loadingOlder = false;
      return; // retried on the next scroll
    }
    S.loadingOlder = false;
    maybeLoadOlder();
  }

  function maybeLoadOlder() { if (log().scrollTop < 120) loadOlder(); }

  // ---- input ----
  function grow() { const i = $('input'); i.style.height = 'auto'; i.style.height = Math.min(i.scrollHeight + 2, 120) + 'px'; }

  async function enter() {
    const btn = $('enter-btn');
    btn.disabled = true; btn.textContent = S.t.entering;
    $('enter-error').hidden = true;
    try {
      await session();
    } catch {
      btn.disabled = false; btn.textContent = S.t.enter;
      const e = $('enter-error'); e.hidden = false; e.textContent = S.t.sessionError;
      return;
    }
    store.set('entered', '1');
    showMe();
    $('app').dataset.view = 'chat';
    $('composer').hidden = false;
    connect();
    if (matchMedia('(pointer: fine)').matches) $('input').focus();
  }

  function applyLocale(loc) {
    S.locale = loc === 'ko' ? 'ko' : 'en';
    S.t = STR[S.locale];
    document.documentElement.lang = S.locale;
    document.title = S.t.title + ' · ' + room;
    $('enter-title').textContent = S.t.title;
    $('enter-text').textContent = S.t.enterText;
    $('enter-btn').textContent = S.t.enter;
    $('send').textContent = S.t.send;
    $('input').placeholder = S.t.placeholder;
    $('jump').textContent = S.t.newer;
  }

  async function init() {
    $('room').textContent = '# ' + room;
    let loc = (navigator.language || '').toLowerCase().startsWith('ko') ? 'ko' : 'en';
    try {
      const res = await fetch(mount + 'api/config');
      if (res.ok) { const c = await res.json(); if (c && (c.locale === 'ko' || c.locale === 'en')) loc = c.locale; }
    } catch { /* keep the browser's language */ }
    applyLocale(loc);

    $('enter-btn').addEventListener('click', enter);
    $('composer').addEventListener('submit', (e) => { e.preventDefault(); submit(); });
    const input = $('input');
    input.addEventListener('keydown', (e) => {
      // Enter sends, Shift+Enter is a newline; never send while an IME (Korean) is composing.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); submit(); }
    });
    input.addEventListener('input', grow);
    log().addEventListener('scroll', () => { if (nearBottom()) $('jump').hidden = true; maybeLoadOlder(); }, { passive: true });
    $('jump').addEventListener('click', toBottom);
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && window.parent !== window) window.parent.postMessage({ type: 'edge-chat:close' }, '*');
    });
    setInterval(() => { // no ack in time (lost frame or silent reconnect): resend with the same client_id
      const now = Date.now();
      for (const p of S.pending.values()) if (S.joined && p.sentAt && !p.timer && now - p.sentAt > ACK_TIMEOUT) transmit(p);
    }, 5000);

    $('enter-btn').disabled = false;
    if (store.get('entered')) enter(); // a returning visitor goes straight back in
  }

  init();
})();
