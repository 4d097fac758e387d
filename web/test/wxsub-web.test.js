'use strict';

// Tests for web/wxsub-web.js against a fake browser window (location,
// sessionStorage, fetch, crypto), a fake JS-SDK (wx) and a fake wxsub backend
// that follows the README's routes for official accounts.
// Run: node --test web/test/

const test = require('node:test');
const assert = require('node:assert/strict');
const { webcrypto } = require('node:crypto');
const wxsubWeb = require('../wxsub-web.js');

const API = 'https://api.example.com';
const PAGE = 'https://shop.example.com/notify?from=menu';
const APPID = 'wx0123456789abcdef';

/** A fake wxsub backend: sessions from codes, jssdk-config, reports with report_id. */
function fakeBackend() {
  const b = {
    codes: new Map([['good-code', 'oUser000000000000000000000001']]),
    used: new Set(),
    requests: [], // {method, path, query, body, auth}
    reports: new Map(), // report_id -> answer
    credits: 0,
    ticketVersion: 1,
    badVersions: new Set(), // ticket versions WeChat refuses
    fail: null, // function(req) -> {status, body} | undefined
  };
  b.fetch = async (url, init) => {
    const u = new URL(url);
    assert.equal(u.origin, API);
    const req = {
      method: init.method, path: u.pathname, query: Object.fromEntries(u.searchParams),
      body: init.body ? JSON.parse(init.body) : undefined, auth: (init.headers || {}).Authorization,
    };
    b.requests.push(req);
    const forced = b.fail && b.fail(req);
    if (forced instanceof Error) throw forced;
    const ans = forced || route(req);
    return { status: ans.status, text: async () => JSON.stringify(ans.body) };
  };
  const err = (status, code) => ({ status, body: { error: { code, message: code } } });
  function route(req) {
    if (req.method === 'POST' && req.path === '/v1/session') {
      const openid = b.codes.get(req.body.code);
      if (!openid || b.used.has(req.body.code)) return err(400, 'invalid_code');
      b.used.add(req.body.code);
      return { status: 200, body: { token: 'T-' + openid, expires_at: '2999-01-01T00:00:00Z', openid } };
    }
    if (req.method === 'GET' && req.path === '/v1/jssdk-config') {
      if (!req.query.url || req.query.url.includes('#')) return err(400, 'invalid_url');
      if (req.query.failed && req.query.failed === 'v' + b.ticketVersion + 'nonce') b.ticketVersion++;
      return { status: 200, body: { appId: APPID, timestamp: 1700000000, nonceStr: 'v' + b.ticketVersion + 'nonce', signature: 'sig:' + req.query.url } };
    }
    if (!req.auth || !req.auth.startsWith('Bearer T-')) return err(401, 'unauthorized');
    if (req.method === 'POST' && req.path === '/v1/subscriptions') {
      const id = req.body.report_id;
      if (b.reports.has(id)) return b.reports.get(id);
      if (req.body.result.errCode === 20004) return { status: 200, body: { subscriptions: [] } };
      const details = JSON.parse(req.body.result.subscribeDetails);
      const subs = Object.keys(details).map((tid) => {
        const st = JSON.parse(details[tid]).status;
        if (st === 'accept') b.credits++;
        return { template_id: tid, status: st, credits: b.credits };
      });
      const ans = { status: 200, body: { subscriptions: subs } };
      b.reports.set(id, ans);
      return ans;
    }
    if (req.method === 'GET' && req.path === '/v1/subscriptions') {
      return { status: 200, body: { subscriptions: [{ template_id: 'TPL', credits: b.credits }] } };
    }
    return err(404, 'not_found');
  }
  return b;
}

/** A fake window: the page at href, sessionStorage, crypto and a JS-SDK. */
function fakeWindow(href, backend) {
  const store = new Map();
  const w = {
    assigned: [],
    location: { href, assign: (u) => w.assigned.push(u) },
    sessionStorage: {
      getItem: (k) => (store.has(k) ? store.get(k) : null),
      setItem: (k, v) => store.set(k, String(v)),
      removeItem: (k) => store.delete(k),
    },
    crypto: webcrypto,
    fetch: backend.fetch,
    store,
  };
  // The JS-SDK: wx.config is accepted unless its nonce names a refused ticket.
  w.wx = {
    configs: [],
    ready(fn) { this.onReady = fn; },
    error(fn) { this.onError = fn; },
    config(c) {
      this.configs.push(c);
      const version = Number(/^v(\d+)/.exec(c.nonceStr)[1]);
      setImmediate(() => (backend.badVersions.has(version)
        ? this.onError({ errMsg: 'config:invalid signature' }) : this.onReady()));
    },
  };
  return w;
}

test('login without a code sends the browser to WeChat\'s snsapi_base authorisation, with a state', async () => {
  const b = fakeBackend();
  const w = fakeWindow(PAGE + '#top', b);
  const c = wxsubWeb.create({ api: API + '/', window: w });
  const pending = c.login();
  await new Promise((r) => setImmediate(r));
  assert.equal(w.assigned.length, 1);
  const u = new URL(w.assigned[0]);
  assert.equal(u.origin + u.pathname, 'https://open.weixin.qq.com/connect/oauth2/authorize');
  assert.equal(u.searchParams.get('appid'), APPID, 'the AppID comes from /v1/jssdk-config when not given');
  assert.equal(u.searchParams.get('redirect_uri'), PAGE, 'back to this page, without the fragment');
  assert.equal(u.searchParams.get('response_type'), 'code');
  assert.equal(u.searchParams.get('scope'), 'snsapi_base');
  assert.equal(u.hash, '#wechat_redirect');
  const state = u.searchParams.get('state');
  assert.match(state, /^[0-9a-f]{16}$/);
  assert.equal(w.store.get('wxsub.web.oauth_state'), state);
  let settled = false;
  pending.then(() => { settled = true; }, () => { settled = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'the page unloads: login() never settles');
});

test('login trades the code of the return for a session and keeps it for the tab', async () => {
  const b = fakeBackend();
  const w = fakeWindow(PAGE + '&code=good-code&state=s1', b);
  w.store.set('wxsub.web.oauth_state', 's1');
  const c = wxsubWeb.create({ api: API, appId: APPID, window: w });
  const s = await c.login();
  assert.equal(s.openid, 'oUser000000000000000000000001');
  assert.deepEqual(b.requests[0].body, { code: 'good-code' });
  // A reload keeps the session: the spent code is not sent again.
  const again = wxsubWeb.create({ api: API, appId: APPID, window: w });
  assert.equal((await again.login()).openid, s.openid);
  assert.equal(b.requests.filter((r) => r.path === '/v1/session').length, 1);
});

test('login refuses a code that comes back with another state', async () => {
  const b = fakeBackend();
  const w = fakeWindow(PAGE + '&code=good-code&state=forged', b);
  w.store.set('wxsub.web.oauth_state', 's1');
  const c = wxsubWeb.create({ api: API, appId: APPID, window: w });
  await assert.rejects(c.login(), { code: 'state_mismatch' });
  assert.equal(b.requests.length, 0, 'the code is not spent');
});

test('a spent code sends the browser through the authorisation again, once', async () => {
  const b = fakeBackend();
  const w = fakeWindow(PAGE + '&code=spent&state=s1', b);
  w.store.set('wxsub.web.oauth_state', 's1');
  wxsubWeb.create({ api: API, appId: APPID, window: w }).login();
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(w.assigned.length, 1);
  // Back again with a spent code: no loop, the error shows.
  const state = new URL(w.assigned[0]).searchParams.get('state');
  w.location.href = PAGE + '&code=spent&state=' + state;
  await assert.rejects(wxsubWeb.create({ api: API, appId: APPID, window: w }).login(), { code: 'invalid_code' });
  assert.equal(w.assigned.length, 1);
});

test('configure signs this page\'s URL and asks for the open tag', async () => {
  const b = fakeBackend();
  const w = fakeWindow(PAGE + '#section', b);
  const c = wxsubWeb.create({ api: API, window: w });
  await c.configure({ jsApiList: ['chooseImage'] });
  const q = b.requests.find((r) => r.path === '/v1/jssdk-config').query;
  assert.equal(q.url, PAGE, 'the URL without its fragment');
  assert.equal(w.wx.configs.length, 1);
  const cfg = w.wx.configs[0];
  assert.deepEqual(cfg.openTagList, ['wx-open-subscribe']);
  assert.deepEqual(cfg.jsApiList, ['chooseImage']);
  assert.equal(cfg.appId, APPID);
  assert.equal(cfg.signature, 'sig:' + PAGE);
  assert.equal(cfg.debug, false);
});

test('an invalid signature is retried once, naming the refused nonce', async () => {
  const b = fakeBackend();
  b.badVersions.add(1);
  const w = fakeWindow(PAGE, b);
  const c = wxsubWeb.create({ api: API, window: w });
  const cfg = await c.configure();
  assert.equal(cfg.nonceStr, 'v2nonce');
  const asks = b.requests.filter((r) => r.path === '/v1/jssdk-config');
  assert.equal(asks.length, 2);
  assert.equal(asks[1].query.failed, 'v1nonce');
  // A second refusal is final.
  b.badVersions.add(3);
  b.ticketVersion = 3;
  const w2 = fakeWindow(PAGE, b);
  b.badVersions.add(4);
  await assert.rejects(wxsubWeb.create({ api: API, window: w2 }).configure(), { code: 'config_failed' });
});

test('configure without the JS-SDK says so', async () => {
  const w = fakeWindow(PAGE, fakeBackend());
  delete w.wx;
  await assert.rejects(wxsubWeb.create({ api: API, window: w }).configure(), { code: 'no_jssdk' });
});

function detail(statuses) {
  const d = {};
  for (const id of Object.keys(statuses)) d[id] = JSON.stringify({ status: statuses[id] });
  return { errMsg: 'subscribe:ok', subscribeDetails: JSON.stringify(d) };
}

async function loggedIn(b) {
  const w = fakeWindow(PAGE + '&code=good-code&state=s1', b);
  const c = wxsubWeb.create({ api: API, appId: APPID, window: w });
  await c.login();
  return c;
}

test('the button\'s success event is reported as it came, with a report_id', async () => {
  const b = fakeBackend();
  const c = await loggedIn(b);
  const el = new EventTarget();
  const answers = [];
  const errors = [];
  c.bind(el, { onReport: (a) => answers.push(a), onError: (e) => errors.push(e) });
  el.dispatchEvent(new CustomEvent('success', { detail: detail({ TPL: 'accept' }) }));
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(errors, []);
  assert.equal(answers.length, 1);
  assert.equal(answers[0].subscriptions[0].credits, 1);
  const rep = b.requests.find((r) => r.path === '/v1/subscriptions');
  assert.equal(rep.auth, 'Bearer T-oUser000000000000000000000001');
  assert.deepEqual(rep.body.result, detail({ TPL: 'accept' }));
  assert.match(rep.body.report_id, /^[0-9a-f]{32}$/);
});

test('a report whose answer was lost is retried with the same report_id and counts once', async () => {
  const b = fakeBackend();
  const c = await loggedIn(b);
  let n = 0;
  b.fail = (req) => {
    if (req.path !== '/v1/subscriptions') return undefined;
    n++;
    if (n === 1) {
      // wxsub recorded it, but the answer never reached the page.
      const real = b.fail;
      b.fail = null;
      b.fetch(API + req.path, { method: 'POST', headers: { Authorization: req.auth }, body: JSON.stringify(req.body) });
      b.fail = real;
      return new TypeError('Failed to fetch');
    }
    if (n === 2) return { status: 503, body: { error: { code: 'store_unavailable', message: 'retry' } } };
    return undefined;
  };
  const a = await c.report(detail({ TPL: 'accept' }));
  assert.equal(a.subscriptions[0].credits, 1);
  assert.equal(b.credits, 1, 'one credit for one tap');
  const ids = new Set(b.requests.filter((r) => r.path === '/v1/subscriptions').map((r) => r.body.report_id));
  assert.equal(ids.size, 1);
});

test('error events: 20004 is reported, others go to onError only', async () => {
  const b = fakeBackend();
  const c = await loggedIn(b);
  const el = new EventTarget();
  const errors = [];
  c.bind(el, { onError: (e) => errors.push(e) });
  el.dispatchEvent(new CustomEvent('error', { detail: { errMsg: 'subscribe:fail no permission', errCode: 49003 } }));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'subscribe_failed');
  assert.equal(errors[0].errCode, 49003);
  assert.equal(b.requests.filter((r) => r.path === '/v1/subscriptions').length, 0);

  el.dispatchEvent(new CustomEvent('error', { detail: { errMsg: 'subscribe:fail The main switch is switched off', errCode: 20004 } }));
  await new Promise((r) => setTimeout(r, 5));
  const rep = b.requests.filter((r) => r.path === '/v1/subscriptions');
  assert.equal(rep.length, 1);
  assert.equal(rep[0].body.result.errCode, 20004);
});

test('report and subscriptions need a login', async () => {
  const c = wxsubWeb.create({ api: API, window: fakeWindow(PAGE, fakeBackend()) });
  await assert.rejects(c.report(detail({ TPL: 'accept' })), { code: 'not_logged_in' });
  await assert.rejects(c.subscriptions(), { code: 'not_logged_in' });
  assert.throws(() => wxsubWeb.create({ window: {} }), TypeError);
});
