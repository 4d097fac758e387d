'use strict';

// Tests for the demo mini-program in miniprogram/demo: that it imports into
// WeChat DevTools as it is, and that its simulator stand-in for wx behaves
// like WeChat. Run: node --test miniprogram/test/

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { createSimWx, OPENID_KEY } = require('../demo/simwx.js');

const ROOT = path.join(__dirname, '..');
const DEMO = path.join(ROOT, 'demo');
const SIM = 'http://127.0.0.1:3001';

test('the demo carries the library unchanged', () => {
  // DevTools packages only files inside the project, so the demo holds a copy,
  // made from the one source by `make demo` (make run and make test-js run it).
  assert.ok(
    fs.readFileSync(path.join(DEMO, 'wxsub.js')).equals(fs.readFileSync(path.join(ROOT, 'wxsub.js'))),
    'miniprogram/demo/wxsub.js differs from miniprogram/wxsub.js: run make demo'
  );
});

test('the demo is a complete project for WeChat DevTools', () => {
  const app = JSON.parse(fs.readFileSync(path.join(DEMO, 'app.json'), 'utf8'));
  assert.ok(app.pages.length > 0);
  for (const page of app.pages) {
    for (const ext of ['.js', '.json', '.wxml']) {
      assert.ok(fs.existsSync(path.join(DEMO, page + ext)), page + ext + ' is missing');
    }
  }
  const project = JSON.parse(fs.readFileSync(path.join(DEMO, 'project.config.json'), 'utf8'));
  assert.equal(project.compileType, 'miniprogram');
  assert.equal(project.setting.urlCheck, false, 'local http URLs need urlCheck off');
  // The URLs are where the stack listens, which a developer may change
  // (PORT, WECHATSIM_ADDR): only their shape is checked.
  const config = require('../demo/config.js');
  for (const url of [config.baseURL, config.simulatorURL]) {
    assert.match(url, /^https?:\/\/[^/\s]+$/, url + ' is not a base URL');
  }
  assert.notEqual(config.baseURL, config.simulatorURL);
});

/** A real-wx fake whose requests reach a fake of the simulator's control endpoints. */
function fakeRealWx() {
  const fw = {
    storage: new Map(),
    posts: [], // {path, data}
    reachable: true,
    confirm: true, // the answer to showModal
    issued: 0,
  };
  fw.getStorageSync = (k) => (fw.storage.has(k) ? fw.storage.get(k) : '');
  fw.setStorageSync = (k, v) => fw.storage.set(k, v);
  fw.removeStorageSync = (k) => fw.storage.delete(k);
  fw.request = (o) => {
    if (!fw.reachable) {
      setImmediate(() => o.fail({ errMsg: 'request:fail connect ECONNREFUSED' }));
      return;
    }
    const p = o.url.slice(SIM.length);
    fw.posts.push({ path: p, data: JSON.parse(JSON.stringify(o.data)) });
    let data;
    if (p === '/__sim/login') {
      fw.issued++;
      data = { code: 'simcode-' + fw.issued, openid: o.data.openid || 'o-sim-' + fw.issued };
    } else if (p === '/__sim/popup') {
      data = Object.keys(o.data.results).some((id) => id.startsWith('unknown'))
        ? { errMsg: 'requestSubscribeMessage:fail No template data return, verify the template id exist', errCode: 20001 }
        : Object.assign({ errMsg: 'requestSubscribeMessage:ok' }, o.data.results);
    }
    setImmediate(() => o.success(data ? { statusCode: 200, data } : { statusCode: 404, data: {} }));
  };
  fw.showModal = (o) => setImmediate(() => o.success({ confirm: fw.confirm, cancel: !fw.confirm }));
  return fw;
}

/** Calls a callback-style wx function and settles with which callback ran. */
function call(fn, options) {
  return new Promise((resolve) => {
    fn(Object.assign({}, options, {
      success: (res) => resolve({ ok: res }),
      fail: (res) => resolve({ fail: res }),
    }));
  });
}

test('simulator stand-in: login keeps one simulated user', async () => {
  const real = fakeRealWx();
  const sim = createSimWx({ simulatorURL: SIM + '/', wx: real, choose: async () => 'accept' });
  const first = await call(sim.login);
  assert.deepEqual(first.ok, { errMsg: 'login:ok', code: 'simcode-1' });
  const second = await call(sim.login);
  assert.equal(second.ok.code, 'simcode-2', 'codes are single-use: a new one each time');
  assert.deepEqual(real.posts.map((p) => p.data), [{}, { openid: 'o-sim-1' }]);
  assert.equal(real.storage.get(OPENID_KEY), 'o-sim-1');

  real.reachable = false;
  const down = await call(sim.login);
  assert.match(down.fail.errMsg, /^login:fail simulator unreachable/);
});

test('simulator stand-in: the popup answer goes through the simulator', async () => {
  const real = fakeRealWx();
  const asked = [];
  const sim = createSimWx({
    simulatorURL: SIM,
    wx: real,
    choose: async (ids) => { asked.push(ids); return 'ban'; },
  });
  const early = await call(sim.requestSubscribeMessage, { tmplIds: ['T1'] });
  assert.match(early.fail.errMsg, /log in first/);

  await call(sim.login);
  const got = await call(sim.requestSubscribeMessage, { tmplIds: ['T1', 'T2'] });
  assert.deepEqual(asked, [['T1', 'T2']]);
  assert.deepEqual(real.posts.pop(), { path: '/__sim/popup', data: { openid: 'o-sim-1', results: { T1: 'ban', T2: 'ban' } } });
  assert.deepEqual(got.ok, { errMsg: 'requestSubscribeMessage:ok', T1: 'ban', T2: 'ban' });
});

test('simulator stand-in: the simulator\'s fail object reaches fail, as WeChat\'s does', async () => {
  const real = fakeRealWx();
  const sim = createSimWx({ simulatorURL: SIM, wx: real, choose: async () => 'accept' });
  await call(sim.login);
  const got = await call(sim.requestSubscribeMessage, { tmplIds: ['unknownTemplate'] });
  assert.equal(got.ok, undefined);
  assert.equal(got.fail.errCode, 20001);
  assert.match(got.fail.errMsg, /^requestSubscribeMessage:fail No template data return/);
});

test('simulator stand-in: main switch off fails with 20004 until settings turn it on', async () => {
  const real = fakeRealWx();
  const sim = createSimWx({ simulatorURL: SIM, wx: real, choose: async () => 'accept' });
  await call(sim.login);
  sim.setMainSwitch(false);
  const off = await call(sim.requestSubscribeMessage, { tmplIds: ['T1'] });
  assert.equal(off.fail.errCode, 20004);
  assert.equal(real.posts.filter((p) => p.path === '/__sim/popup').length, 0, 'the simulator is not told');

  real.confirm = false;
  assert.equal((await call(sim.openSetting, { withSubscriptions: true })).ok.subscriptionsSetting.mainSwitch, false);
  real.confirm = true;
  assert.equal((await call(sim.openSetting, { withSubscriptions: true })).ok.subscriptionsSetting.mainSwitch, true);
  assert.equal(sim.mainSwitch(), true);
  assert.ok((await call(sim.requestSubscribeMessage, { tmplIds: ['T1'] })).ok);
});
