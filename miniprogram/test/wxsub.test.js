'use strict';

// Tests for miniprogram/wxsub.js against a fake `wx` global and a fake wxsub
// backend that follows the client routes of the README. Run: node --test miniprogram/test/

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const wxsub = require('../wxsub.js');

const BASE = 'http://wxsub.test';
const DAY = 24 * 60 * 60 * 1000;
const TAP_ONLY = 'requestSubscribeMessage:fail can only be invoked by user TAP gesture.';
const SWITCH_OFF = 'requestSubscribeMessage:fail The main switch is switched off';

/**
 * A small wxsub backend following the contract: sessions, the ledger rules of
 * the README for client reports, and the client routes.
 */
function fakeBackend(clock) {
  const b = {
    templates: [
      { id: 'T_ship', title: '发货通知', type: 'one_time', keywords: [] },
      { id: 'T_ship_dup', title: '发货通知', type: 'one_time', keywords: [] },
      { id: 'T_pay', title: '支付成功', type: 'one_time', keywords: [] },
      { id: 'T_refund', title: '退款通知', type: 'one_time', keywords: [] },
      { id: 'T_bus', title: '到站提醒', type: 'long_term', keywords: [] },
    ],
    ledger: {}, // template id -> {status, credits}
    tokens: new Set(),
    issued: 0,
    refuseAll: false, // answer 401 to every authenticated request
    down: false, // every request fails like a lost connection
    rejectCodes: false, // POST /v1/session answers 400 invalid_code
  };
  const typeOf = (id) => (b.templates.find((t) => t.id === id) || {}).type;
  const row = (id) => b.ledger[id] || (b.ledger[id] = { status: null, credits: 0 });
  const view = (id) => ({
    template_id: id,
    status: row(id).status,
    credits: typeOf(id) === 'one_time' ? row(id).credits : null,
  });
  const err = (statusCode, code, message) => ({ statusCode, data: { error: { code, message } } });

  b.handle = function (req) {
    if (b.down) {
      return { fail: 'request:fail timeout' };
    }
    const route = req.method + ' ' + req.url.slice(BASE.length);
    if (route === 'POST /v1/session') {
      if (b.rejectCodes || !req.data || !req.data.code) {
        return err(400, 'invalid_code', 'the wx.login code is invalid or used; call wx.login again');
      }
      const token = 'tok-' + ++b.issued;
      b.tokens.add(token);
      return {
        statusCode: 200,
        data: { token, expires_at: new Date(clock.now + 7 * DAY).toISOString(), openid: 'o-user' },
      };
    }
    const auth = (req.header && req.header.Authorization) || '';
    if (b.refuseAll || !b.tokens.has(auth.replace(/^Bearer /, ''))) {
      return err(401, 'unauthorized', 'the session token is missing, expired or invalid');
    }
    switch (route) {
      case 'GET /v1/templates':
        return { statusCode: 200, data: { templates: b.templates } };
      case 'GET /v1/subscriptions':
        return {
          statusCode: 200,
          data: {
            subscriptions: b.templates.map((t) =>
              Object.assign(view(t.id), { type: t.type, updated_at: '2025-01-01T00:00:00Z' })),
          },
        };
      case 'POST /v1/subscriptions': {
        const r = req.data && req.data.result;
        if (!r) {
          return err(400, 'invalid_body', 'result is required');
        }
        if (r.errCode === 20004) {
          for (const t of b.templates) {
            row(t.id).status = 'off';
            row(t.id).credits = 0;
          }
          return { statusCode: 200, data: { subscriptions: [] } };
        }
        const ids = Object.keys(r).filter((k) => k !== 'errMsg');
        for (const id of ids) {
          if (r[id] === 'filter') {
            continue;
          }
          // As the server does: every status starting with 'accept' is an accept.
          const accepted = r[id].indexOf('accept') === 0;
          row(id).status = accepted ? 'accept' : r[id];
          if (accepted && typeOf(id) === 'one_time') {
            row(id).credits++;
          }
        }
        return { statusCode: 200, data: { subscriptions: ids.map(view) } };
      }
      default:
        return err(404, 'not_found', 'no such route');
    }
  };
  return b;
}

/**
 * A fake `wx` with the calls wxsub uses. Callbacks run asynchronously, as in
 * WeChat. wx.requestSubscribeMessage and wx.openSetting work only while a tap
 * is being handled (see tap()), like WeChat since base library 2.8.2 / 2.3.0.
 */
function fakeWx(backend) {
  const later = (fn) => setImmediate(fn);
  const fw = {
    storage: new Map(),
    logins: 0,
    requests: [], // {method, path, header, data}
    asked: [], // tmplIds of each requestSubscribeMessage
    openSettings: [], // options of each openSetting
    choices: {}, // template id -> what the user taps in the popup
    failWith: null, // {errMsg, errCode} for the next popups
    tapping: false,
  };
  const copy = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
  fw.getStorageSync = (key) => (fw.storage.has(key) ? copy(fw.storage.get(key)) : '');
  fw.setStorageSync = (key, value) => fw.storage.set(key, copy(value));
  fw.removeStorageSync = (key) => fw.storage.delete(key);
  fw.login = (o) => {
    fw.logins++;
    const code = 'code-' + fw.logins;
    later(() => o.success({ errMsg: 'login:ok', code }));
  };
  fw.request = (o) => {
    const req = { method: o.method, url: o.url, header: copy(o.header), data: copy(o.data) };
    fw.requests.push(Object.assign({ path: o.url.slice(BASE.length) }, req));
    const res = backend.handle(req);
    later(() => {
      if (res.fail) {
        o.fail({ errMsg: res.fail });
      } else {
        o.success({ statusCode: res.statusCode, data: copy(res.data), header: {} });
      }
    });
  };
  fw.requestSubscribeMessage = (o) => {
    if (!fw.tapping) {
      later(() => o.fail({ errMsg: TAP_ONLY }));
      return;
    }
    fw.asked.push(o.tmplIds.slice());
    if (fw.failWith) {
      const f = fw.failWith;
      later(() => o.fail({ errMsg: f.errMsg, errCode: f.errCode }));
      return;
    }
    const res = { errMsg: 'requestSubscribeMessage:ok' };
    for (const id of o.tmplIds) {
      res[id] = fw.choices[id] || 'reject';
    }
    later(() => o.success(res));
  };
  fw.openSetting = (o) => {
    if (!fw.tapping) {
      later(() => o.fail({ errMsg: 'openSetting:fail can only be invoked by user TAP gesture.' }));
      return;
    }
    fw.openSettings.push({ withSubscriptions: o.withSubscriptions });
    later(() => o.success({
      errMsg: 'openSetting:ok',
      authSetting: {},
      subscriptionsSetting: { mainSwitch: true },
    }));
  };
  fw.routes = () => fw.requests.map((r) => r.method + ' ' + r.path);
  return fw;
}

/** Calls fn the way a tap handler would: synchronously, inside the tap. */
function tap(fw, fn) {
  fw.tapping = true;
  try {
    return fn();
  } finally {
    fw.tapping = false;
  }
}

function setup(options) {
  const clock = { now: Date.parse('2025-06-01T00:00:00Z') };
  const backend = fakeBackend(clock);
  const fw = fakeWx(backend);
  global.wx = fw;
  // Reports that get no answer are retried at once here (500 ms and 2 s in the library).
  const client = wxsub.createClient(Object.assign({ baseURL: BASE + '/', now: () => clock.now, reportRetryDelays: [1, 1] }, options));
  return { clock, backend, fw, client };
}

test('login exchanges the wx.login code for a stored session and reuses it', async () => {
  const { fw, client, clock } = setup();
  const s = await client.login();
  assert.equal(fw.logins, 1);
  assert.deepEqual(fw.requests[0].data, { code: 'code-1' });
  assert.equal(fw.requests[0].url, BASE + '/v1/session');
  assert.equal(fw.requests[0].header.Authorization, undefined);
  assert.deepEqual(fw.storage.get(wxsub.SESSION_KEY), s);
  assert.equal(s.openid, 'o-user');

  await client.login();
  // A new launch of the mini-program: a new client finds the stored session.
  const relaunched = wxsub.createClient({ baseURL: BASE, now: () => clock.now });
  assert.deepEqual(await relaunched.login(), s);
  assert.equal(fw.logins, 1, 'a valid stored session is reused');

  await client.login({ force: true });
  assert.equal(fw.logins, 2, 'force logs in again');
});

test('an expired session is replaced by a new login', async () => {
  const { fw, client, clock } = setup();
  const first = await client.login();
  clock.now += 7 * DAY;
  const second = await client.login();
  assert.equal(fw.logins, 2);
  assert.notEqual(second.token, first.token);
  assert.deepEqual(fw.storage.get(wxsub.SESSION_KEY), second);
});

test('concurrent calls share one login', async () => {
  const { fw, client } = setup();
  await Promise.all([client.credits(), client.templates(), client.login()]);
  assert.equal(fw.logins, 1);
});

test('a rejected login code rejects with the contract error', async () => {
  const { backend, client } = setup();
  backend.rejectCodes = true;
  await assert.rejects(client.login(), (e) => {
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, 'invalid_code');
    assert.match(e.message, /call wx\.login again/);
    return true;
  });
});

test('accept: the raw result is reported and credits come back', async () => {
  const { fw, client } = setup();
  fw.choices = { T_ship: 'accept' };
  const got = await tap(fw, () => client.subscribe(['T_ship']));
  assert.deepEqual(got, [{ templateId: 'T_ship', status: 'accept', credits: 1 }]);
  assert.equal(got.mainSwitchOff, undefined);

  const report = fw.requests.find((r) => r.path === '/v1/subscriptions');
  assert.equal(report.method, 'POST');
  assert.deepEqual(report.data.result, { errMsg: 'requestSubscribeMessage:ok', T_ship: 'accept' });
  assert.match(report.data.report_id, /^[\x21-\x7e]{1,64}$/, 'one report_id per popup result');
  assert.equal(report.header.Authorization, 'Bearer ' + fw.storage.get(wxsub.SESSION_KEY).token);

  const again = await tap(fw, () => client.subscribe(['T_ship']));
  assert.deepEqual(again, [{ templateId: 'T_ship', status: 'accept', credits: 2 }], 'accepts accumulate');
});

test('report_id: a fresh one per popup result, the same one when a failed report is retried', async () => {
  const { fw, client, backend } = setup();
  fw.choices = { T_ship: 'accept' };
  await tap(fw, () => client.subscribe(['T_ship']));
  backend.down = true;
  const err = await tap(fw, () => client.subscribe(['T_ship'])).then(
    () => assert.fail('the report should have failed'),
    (e) => e
  );
  assert.equal(err.code, 'network_error');
  backend.down = false;
  const got = await err.retryReport();
  assert.deepEqual(got, [{ templateId: 'T_ship', status: 'accept', credits: 2 }]);
  const ids = fw.requests.filter((r) => r.path === '/v1/subscriptions').map((r) => r.data.report_id);
  assert.equal(ids.length, 5, 'one report, then one sent three times while down, then retryReport');
  assert.notEqual(ids[0], ids[1], 'each popup result has its own report_id');
  assert.deepEqual(ids.slice(2), [ids[1], ids[1], ids[1]], 'every retry reuses its report_id');
  assert.equal(fw.storage.has(wxsub.PENDING_KEY), false, 'a report that got through is not kept');
});

test('a lost report is retried by itself with its report_id and counts once', async () => {
  const { fw, client, backend } = setup();
  fw.choices = { T_ship: 'accept' };
  await client.login();
  // The first two attempts get no answer; the third goes through.
  let lost = 2;
  const handle = backend.handle;
  backend.handle = (req) => (req.url.endsWith('/v1/subscriptions') && req.method === 'POST' && lost-- > 0
    ? { fail: 'request:fail timeout' } : handle(req));
  const got = await tap(fw, () => client.subscribe(['T_ship']));
  assert.deepEqual(got, [{ templateId: 'T_ship', status: 'accept', credits: 1 }]);
  const reports = fw.requests.filter((r) => r.path === '/v1/subscriptions' && r.method === 'POST');
  assert.equal(reports.length, 3);
  assert.equal(new Set(reports.map((r) => r.data.report_id)).size, 1);
});

test('a report still unsent is kept and sent before the next credits(), even after a relaunch', async () => {
  const { fw, client, backend, clock } = setup();
  fw.choices = { T_ship: 'accept' };
  await client.login();
  backend.down = true;
  const err = await tap(fw, () => client.subscribe(['T_ship'])).then(() => assert.fail('should fail'), (e) => e);
  assert.equal(err.pending, true);
  const kept = fw.storage.get(wxsub.PENDING_KEY);
  assert.equal(kept.length, 1);
  const reportId = kept[0].report_id;

  backend.down = false;
  const relaunched = wxsub.createClient({ baseURL: BASE, now: () => clock.now, reportRetryDelays: [] });
  const list = await relaunched.credits();
  assert.equal(list.find((c) => c.templateId === 'T_ship').credits, 1, 'the lost tap is counted');
  const sent = fw.requests.filter((r) => r.path === '/v1/subscriptions' && r.method === 'POST').pop();
  assert.equal(sent.data.report_id, reportId);
  assert.deepEqual(Object.keys(sent.data).sort(), ['report_id', 'result'], 'only the contract\'s fields are sent');
  assert.equal(fw.storage.has(wxsub.PENDING_KEY), false);
  assert.equal(await relaunched.flushReports(), 0);
});

test('an unsent report older than a day is dropped, not sent', async () => {
  const { fw, client, backend, clock } = setup({ reportRetryDelays: [] });
  fw.choices = { T_ship: 'accept' };
  await client.login();
  backend.down = true;
  await tap(fw, () => client.subscribe(['T_ship'])).catch(() => {});
  backend.down = false;
  clock.now += DAY;
  await client.login({ force: true });
  const before = fw.requests.length;
  assert.equal(await client.flushReports(), 0);
  assert.equal(fw.requests.length, before, 'nothing was sent');
});

test('a login hook replaces wx.login: a code, or a session the app holds', async () => {
  const { fw } = setup();
  let asked = 0;
  const withCode = wxsub.createClient({ baseURL: BASE, login: () => { asked++; return Promise.resolve('app-code-1'); } });
  const s = await withCode.login();
  assert.equal(asked, 1);
  assert.equal(fw.logins, 0, 'wx.login is not called');
  assert.deepEqual(fw.requests.pop().data, { code: 'app-code-1' });
  assert.equal(s.openid, 'o-user');

  fw.storage.clear();
  const held = { token: s.token, expires_at: s.expires_at, openid: 'o-user' };
  const withSession = wxsub.createClient({ baseURL: BASE, login: () => Promise.resolve(held) });
  const n = fw.requests.length;
  assert.deepEqual(await withSession.login(), held);
  assert.equal(fw.requests.length, n, 'no POST /v1/session');
  assert.ok(Array.isArray(await withSession.credits()));

  fw.storage.clear();
  const broken = wxsub.createClient({ baseURL: BASE, login: () => Promise.reject(new Error('no network')) });
  await assert.rejects(broken.login(), { code: 'login_failed', message: 'no network' });
  assert.throws(() => wxsub.createClient({ baseURL: BASE, login: 'yes' }), TypeError);
  assert.equal(fw.logins, 0);
});

test('subscriptionSettings: the main switch and the "always" choices', async () => {
  const { fw, client } = setup();
  fw.getSetting = (o) => {
    assert.equal(o.withSubscriptions, true);
    setImmediate(() => o.success({ errMsg: 'getSetting:ok', authSetting: {},
      subscriptionsSetting: { mainSwitch: true, itemSettings: { T_ship: 'accept', T_pay: 'reject' } } }));
  };
  assert.deepEqual(await client.subscriptionSettings(), { mainSwitch: true, always: { T_ship: 'accept', T_pay: 'reject' } });
  fw.getSetting = (o) => setImmediate(() => o.success({ errMsg: 'getSetting:ok', subscriptionsSetting: { mainSwitch: false } }));
  assert.deepEqual(await client.subscriptionSettings(), { mainSwitch: false, always: {} });
  fw.getSetting = (o) => setImmediate(() => o.success({ errMsg: 'getSetting:ok', authSetting: {} }));
  assert.deepEqual(await client.subscriptionSettings(), { mainSwitch: true, always: {} });
  fw.getSetting = (o) => setImmediate(() => o.fail({ errMsg: 'getSetting:fail' }));
  await assert.rejects(client.subscriptionSettings(), { code: 'get_setting_failed' });
});

test('accept variants (voice and strong reminders) are reported unchanged and count as accepts', async () => {
  const { fw, client } = setup();
  fw.choices = { T_ship: 'acceptWithAudio', T_pay: 'acceptWithForcePush', T_refund: 'acceptWithAlert' };
  const got = await tap(fw, () => client.subscribe(['T_ship', 'T_pay', 'T_refund']));
  assert.deepEqual(got, [
    { templateId: 'T_ship', status: 'acceptWithAudio', credits: 1 },
    { templateId: 'T_pay', status: 'acceptWithForcePush', credits: 1 },
    { templateId: 'T_refund', status: 'acceptWithAlert', credits: 1 },
  ]);
  assert.ok(got.every((item) => wxsub.isAccept(item.status)));
  const report = fw.requests.find((r) => r.path === '/v1/subscriptions');
  assert.deepEqual(report.data.result, {
    errMsg: 'requestSubscribeMessage:ok', T_ship: 'acceptWithAudio', T_pay: 'acceptWithForcePush', T_refund: 'acceptWithAlert',
  });
});

test('contract: popup results are reported exactly as WeChat gave them', async () => {
  // The same file drives the server's side (shared/subscriptions/contract_test.go).
  const file = JSON.parse(fs.readFileSync(path.join(__dirname, 'contract', 'subscribe-results.json'), 'utf8'));
  for (const c of file.cases) {
    const { fw, client } = setup();
    const ids = Object.keys(c.result).filter((k) => k !== 'errMsg');
    fw.requestSubscribeMessage = (o) => setImmediate(() => o.success(JSON.parse(JSON.stringify(c.result))));
    const got = await tap(fw, () => client.subscribe(ids));
    const report = fw.requests.find((r) => r.path === '/v1/subscriptions');
    assert.deepEqual(report.data.result, c.result);
    assert.match(report.data.report_id, /^[\x21-\x7e]{1,64}$/);
    for (const item of got) {
      assert.equal(wxsub.isAccept(item.status), c.taps[item.templateId] === 'accept', item.templateId + ' ' + item.status);
    }
  }
});

test('isAccept: every status starting with accept, nothing else', () => {
  for (const s of ['accept', 'acceptWithAudio', 'acceptWithAlert', 'acceptWithForcePush']) {
    assert.equal(wxsub.isAccept(s), true, s);
  }
  for (const s of ['reject', 'ban', 'filter', 'Accept', '', undefined, null, 1]) {
    assert.equal(wxsub.isAccept(s), false, String(s));
  }
});

test('reject and ban are reported and keep credits', async () => {
  const { fw, client } = setup();
  fw.choices = { T_ship: 'accept' };
  await tap(fw, () => client.subscribe(['T_ship']));
  fw.choices = { T_ship: 'reject' };
  assert.deepEqual(await tap(fw, () => client.subscribe(['T_ship'])),
    [{ templateId: 'T_ship', status: 'reject', credits: 1 }]);
  fw.choices = { T_ship: 'ban' };
  assert.deepEqual(await tap(fw, () => client.subscribe(['T_ship'])),
    [{ templateId: 'T_ship', status: 'ban', credits: 1 }]);
  const reported = fw.requests.filter((r) => r.path === '/v1/subscriptions').map((r) => r.data.result.T_ship);
  assert.deepEqual(reported, ['accept', 'reject', 'ban']);
});

test('filter: a template dropped for a duplicate title shows as filter', async () => {
  const { fw, client } = setup();
  fw.choices = { T_ship: 'accept', T_ship_dup: 'filter' };
  assert.deepEqual(await tap(fw, () => client.subscribe(['T_ship', 'T_ship_dup'])), [
    { templateId: 'T_ship', status: 'accept', credits: 1 },
    { templateId: 'T_ship_dup', status: 'filter', credits: 0 },
  ]);
});

test('mixed results come back one per template, in the order asked', async () => {
  const { fw, client } = setup();
  fw.choices = { T_pay: 'accept', T_refund: 'ban', T_ship: 'reject' };
  assert.deepEqual(await tap(fw, () => client.subscribe(['T_ship', 'T_refund', 'T_pay'])), [
    { templateId: 'T_ship', status: 'reject', credits: 0 },
    { templateId: 'T_refund', status: 'ban', credits: 0 },
    { templateId: 'T_pay', status: 'accept', credits: 1 },
  ]);
  assert.deepEqual(fw.asked, [['T_ship', 'T_refund', 'T_pay']]);
});

test('long-term templates report null credits', async () => {
  const { fw, client } = setup();
  fw.choices = { T_bus: 'accept' };
  assert.deepEqual(await tap(fw, () => client.subscribe(['T_bus'])),
    [{ templateId: 'T_bus', status: 'accept', credits: null }]);
});

test('too many template ids are refused before WeChat is asked', async () => {
  const { fw, client } = setup();
  const four = ['T_ship', 'T_pay', 'T_refund', 'T_ship_dup'];
  await assert.rejects(tap(fw, () => client.subscribe(four)), { code: 'too_many_templates' });
  await assert.rejects(tap(fw, () => client.subscribe([])), { code: 'invalid_argument' });
  assert.deepEqual(fw.asked, []);
  assert.deepEqual(fw.requests, []);

  const { fw: fw5, client: client5 } = setup({ maxTmplIds: 5 });
  await tap(fw5, () => client5.subscribe(four));
  assert.deepEqual(fw5.asked, [four]);
});

test('one-time and long-term templates are not mixed in one call', async () => {
  const { fw, client } = setup();
  fw.failWith = { errMsg: 'requestSubscribeMessage:fail Templates type must be same', errCode: 20002 };
  // Types not known yet: WeChat judges, and its error comes back.
  await assert.rejects(tap(fw, () => client.subscribe(['T_ship', 'T_bus'])), { errCode: 20002 });
  assert.equal(fw.asked.length, 1);

  await client.templates();
  await assert.rejects(tap(fw, () => client.subscribe(['T_ship', 'T_bus'])), { code: 'mixed_template_types' });
  assert.equal(fw.asked.length, 1, 'WeChat is not asked once the types are known');
});

test('20004: the main switch is recorded as off and settings can be opened', async () => {
  const { fw, client } = setup();
  fw.choices = { T_ship: 'accept' };
  await tap(fw, () => client.subscribe(['T_ship']));
  fw.failWith = { errMsg: SWITCH_OFF, errCode: 20004 };

  const got = await tap(fw, () => client.subscribe(['T_ship']));
  assert.equal(got.mainSwitchOff, true);
  const report = fw.requests.filter((r) => r.path === '/v1/subscriptions').pop();
  assert.deepEqual(report.data.result, { errMsg: SWITCH_OFF, errCode: 20004 });
  assert.equal(typeof report.data.report_id, 'string');

  const ship = (await client.credits()).find((c) => c.templateId === 'T_ship');
  assert.deepEqual(ship, { templateId: 'T_ship', type: 'one_time', status: 'off', credits: 0, updatedAt: '2025-01-01T00:00:00Z' });

  const settings = await tap(fw, () => got.openSettings());
  assert.deepEqual(fw.openSettings, [{ withSubscriptions: true }]);
  assert.equal(settings.subscriptionsSetting.mainSwitch, true);
});

test('other WeChat failures reject with errCode and errMsg and report nothing', async () => {
  const { fw, client } = setup();
  const errMsg = 'requestSubscribeMessage:fail No template data return, verify the template id exist';
  fw.failWith = { errMsg, errCode: 20001 };
  await assert.rejects(tap(fw, () => client.subscribe(['T_nope'])), (e) => {
    assert.equal(e.code, 'subscribe_failed');
    assert.equal(e.errCode, 20001);
    assert.equal(e.message, errMsg);
    return true;
  });
  assert.deepEqual(fw.routes(), []);
});

test('a network failure rejects with network_error', async () => {
  const { fw, backend, client } = setup();
  backend.down = true;
  await assert.rejects(client.credits(), { code: 'network_error', message: 'request:fail timeout' });

  backend.down = false;
  await client.login();
  backend.down = true;
  fw.choices = { T_ship: 'accept' };
  await assert.rejects(tap(fw, () => client.subscribe(['T_ship'])), (e) => {
    assert.equal(e.code, 'network_error');
    assert.deepEqual(e.results, [{ templateId: 'T_ship', status: 'accept', credits: null }],
      'the user\'s answer is still there for the page');
    return true;
  });
});

test('a 401 logs in again once and repeats the call', async () => {
  const { fw, backend, client } = setup();
  const old = await client.login();
  backend.tokens.clear(); // e.g. the server's signing key changed
  fw.choices = { T_ship: 'accept' };
  const got = await tap(fw, () => client.subscribe(['T_ship']));
  assert.deepEqual(got, [{ templateId: 'T_ship', status: 'accept', credits: 1 }]);
  assert.equal(fw.logins, 2);
  assert.deepEqual(fw.routes(), [
    'POST /v1/session', 'POST /v1/subscriptions', 'POST /v1/session', 'POST /v1/subscriptions',
  ]);
  const stored = fw.storage.get(wxsub.SESSION_KEY);
  assert.notEqual(stored.token, old.token);
  assert.equal(fw.requests[3].header.Authorization, 'Bearer ' + stored.token);
});

test('a second 401 gives up', async () => {
  const { fw, backend, client } = setup();
  await client.login();
  backend.refuseAll = true;
  await assert.rejects(client.credits(), { statusCode: 401, code: 'unauthorized' });
  assert.equal(fw.logins, 2, 'one new login, not a loop');
  assert.deepEqual(fw.routes(), [
    'POST /v1/session', 'GET /v1/subscriptions', 'POST /v1/session', 'GET /v1/subscriptions',
  ]);
  assert.equal(fw.storage.has(wxsub.SESSION_KEY), false, 'the refused session is dropped');
});

test('credits and templates read the client routes', async () => {
  const { fw, client } = setup();
  fw.choices = { T_pay: 'accept' };
  await tap(fw, () => client.subscribe(['T_pay']));
  const credits = await client.credits();
  assert.equal(credits.length, 5);
  assert.deepEqual(credits.find((c) => c.templateId === 'T_pay'),
    { templateId: 'T_pay', type: 'one_time', status: 'accept', credits: 1, updatedAt: '2025-01-01T00:00:00Z' });
  assert.equal(credits.find((c) => c.templateId === 'T_bus').credits, null);

  const templates = await client.templates();
  assert.deepEqual(templates.map((t) => [t.id, t.type]), [
    ['T_ship', 'one_time'], ['T_ship_dup', 'one_time'], ['T_pay', 'one_time'],
    ['T_refund', 'one_time'], ['T_bus', 'long_term'],
  ]);
});

test('the wx option replaces the global wx', async () => {
  const { fw } = setup();
  delete global.wx;
  const client = wxsub.createClient({ baseURL: BASE, wx: fw });
  fw.choices = { T_ship: 'accept' };
  assert.deepEqual(await tap(fw, () => client.subscribe(['T_ship'])),
    [{ templateId: 'T_ship', status: 'accept', credits: 1 }]);
  await assert.rejects(wxsub.createClient({ baseURL: BASE }).credits(), { code: 'no_wx' });
});

test('createClient checks its options', () => {
  assert.throws(() => wxsub.createClient({}), TypeError);
  assert.throws(() => wxsub.createClient({ baseURL: BASE, maxTmplIds: 0 }), TypeError);
  assert.equal(wxsub.DEFAULT_MAX_TMPL_IDS, 3);
});

/**
 * Runs a page's code as the mini-program framework would: require finds the
 * library, Page() hands over the page object, setData merges into data.
 */
function loadPage(code) {
  const vm = require('node:vm');
  let page;
  const sandbox = {
    require: (p) => {
      assert.equal(p, '../../wxsub.js', 'the page requires the library from pages/index/');
      return wxsub;
    },
    Page: (def) => { page = def; },
    console,
  };
  vm.runInNewContext(code, sandbox);
  page.data = JSON.parse(JSON.stringify(page.data || {}));
  page.setData = function (d) { Object.assign(this.data, d); };
  return page;
}

const settle = () => new Promise((r) => setTimeout(r, 20));

test('the README\'s starter pages work as pasted (English and Chinese)', async () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const pages = [...readme.matchAll(/```js\n(const \{ createClient, isAccept \}[\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(pages.length, 2, 'one starter page in each language');
  for (const code of pages) {
    const { fw, backend } = setup();
    const page = loadPage(code.replace("'https://api.example.com'", JSON.stringify(BASE)));
    page.onLoad();
    await settle();
    assert.deepEqual(page.data.list.map((r) => r.title), backend.templates.map((t) => t.title), 'titles from the catalogue');
    assert.match(page.data.list[0].left, /0/);

    fw.choices = { T_ship: 'accept' };
    tap(fw, () => page.notify({ currentTarget: { dataset: { id: 'T_ship' } } }));
    await settle();
    assert.equal(page.data.off, false);
    assert.ok(page.data.message.length > 0);
    assert.match(page.data.list.find((r) => r.id === 'T_ship').left, /1/);

    // Switched off: the page says what to do and shows the button.
    fw.failWith = { errMsg: SWITCH_OFF, errCode: 20004 };
    tap(fw, () => page.notify({ currentTarget: { dataset: { id: 'T_ship' } } }));
    await settle();
    assert.equal(page.data.off, true);
    assert.match(page.data.message, /Open settings|打开设置/);

    // Errors are caught and shown, not thrown away.
    fw.failWith = null;
    backend.down = true;
    page.load();
    await settle();
    assert.match(page.data.message, /request:fail timeout/);
    tap(fw, () => page.notify({ currentTarget: { dataset: { id: 'T_ship' } } }));
    await settle();
    assert.match(page.data.message, /request:fail timeout/);
  }
});
