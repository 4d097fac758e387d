'use strict';

// Drives wxsub.js through the Node stand-in for wx (miniprogram/node/wx.js)
// against the real local stack (cmd/wxsub-local, as `make run` starts it),
// on free ports. Needs Go; skipped without it. Run: node --test miniprogram/test/

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

function haveGo() {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return false;
  }
}

/** Builds and starts the local stack on free ports; resolves with its URLs and a stop(). */
async function startStack() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxsub-node-'));
  const bin = path.join(dir, 'wxsub-local');
  execFileSync('go', ['build', '-o', bin, './cmd/wxsub-local'], { cwd: ROOT, stdio: 'inherit' });
  const child = spawn(bin, [], {
    cwd: ROOT,
    env: Object.assign({}, process.env, { PORT: '0', WECHATSIM_ADDR: '127.0.0.1:0', WXSUB_LOG_FORMAT: 'text' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let logs = '';
  child.stderr.on('data', (d) => { logs += d; });
  const urls = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the stack did not start:\n' + out + logs)), 60000);
    child.stdout.on('data', (d) => {
      out += d;
      const api = /API\s+(http:\/\/\S+)/.exec(out);
      const sim = /simulator\s+(http:\/\/\S+)/.exec(out);
      if (api && sim && /admin key/.test(out)) {
        clearTimeout(timer);
        resolve({ api: api[1], sim: sim[1] });
      }
    });
    child.on('exit', (code) => reject(new Error('the stack exited with ' + code + ':\n' + out + logs)));
  });
  return Object.assign(urls, {
    logs: () => logs,
    stop: () => new Promise((resolve) => {
      child.on('exit', () => { fs.rmSync(dir, { recursive: true, force: true }); resolve(); });
      child.kill('SIGTERM');
    }),
  });
}

test('the Node stand-in for wx drives the library against the local stack', { skip: !haveGo() && 'Go is not installed', timeout: 180000 }, async () => {
  const stack = await startStack();
  try {
    const tour = spawn(process.execPath, [path.join(ROOT, 'miniprogram', 'node', 'tour.js'), stack.api, stack.sim]);
    let out = '';
    let err = '';
    tour.stdout.on('data', (d) => { out += d; });
    tour.stderr.on('data', (d) => { err += d; });
    const code = await new Promise((resolve) => tour.on('exit', resolve));
    assert.equal(code, 0, err + out);
    assert.match(out, /^logged in as \S+$/m);
    assert.match(out, /template RaAXmaHZ6OFYKcCbG9rsyEpBqsERIZsLLga8-KL5xqI {2}订单发货通知 {2}\(one_time\)/);
    assert.match(out, /tapped allow for .+: accept, 1 left\ntapped allow for .+: accept, 2 left/);
    assert.match(out, /credits for .+: 2$/m);
    // The stack's text log shows the reports, one short line each.
    assert.match(stack.logs(), /INFO {2}request POST \/v1\/subscriptions 200 \d+ms/);
  } finally {
    await stack.stop();
  }
});
