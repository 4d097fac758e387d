/**
 * A stand-in for the mini-program's `wx` in Node.js (18 or later), to drive
 * wxsub.js against `make run` from a terminal or a test: wx.request is
 * fetch, storage is a Map, and the calls that need a WeChat account
 * (wx.login, wx.requestSubscribeMessage, wx.openSetting) are answered by
 * wxsub's WeChat simulator through the demo's stand-in (../demo/simwx.js).
 *
 *   const { createNodeWx } = require('./miniprogram/node/wx.js');
 *   const wx = createNodeWx({ simulatorURL: 'http://127.0.0.1:3001', answer: 'accept' });
 *   const client = require('./miniprogram/wxsub.js').createClient({ baseURL: 'http://127.0.0.1:3000', wx });
 *
 * Not part of the library.
 */
'use strict';

const { createSimWx } = require('../demo/simwx.js');

/**
 * Creates the stand-in.
 *
 * @param {Object} options
 * @param {string} options.simulatorURL where the simulator listens.
 * @param {string|function(string[]): Promise<string>} [options.answer='accept'] the
 *   user's answer in the simulated popup, or a function choosing it.
 * @returns {Object} a wx-shaped object (plus setMainSwitch(on), storage).
 */
function createNodeWx(options) {
  const storage = new Map();
  const answer = options.answer || 'accept';
  const real = {
    storage: storage,
    getStorageSync: (k) => (storage.has(k) ? JSON.parse(storage.get(k)) : ''),
    setStorageSync: (k, v) => { storage.set(k, JSON.stringify(v)); },
    removeStorageSync: (k) => { storage.delete(k); },
    request: (o) => {
      const init = { method: o.method || 'GET', headers: o.header || {} };
      if (o.data !== undefined) {
        init.body = typeof o.data === 'string' ? o.data : JSON.stringify(o.data);
      }
      fetch(o.url, init).then((res) => res.text().then((text) => {
        let data = text;
        try { data = JSON.parse(text); } catch (e) { /* not JSON: keep the text, as wx does */ }
        const header = {};
        res.headers.forEach((v, k) => { header[k] = v; });
        o.success({ statusCode: res.status, data: data, header: header, errMsg: 'request:ok' });
      })).catch((err) => o.fail({ errMsg: 'request:fail ' + err.message }));
    },
    // The simulated settings page: switch notifications back on.
    showModal: (o) => setImmediate(() => o.success({ confirm: true, cancel: false })),
  };
  const sim = createSimWx({
    simulatorURL: options.simulatorURL,
    wx: real,
    choose: typeof answer === 'function' ? answer : () => Promise.resolve(answer),
  });
  sim.storage = storage;
  return sim;
}

module.exports = { createNodeWx: createNodeWx };
