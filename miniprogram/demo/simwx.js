/**
 * A stand-in for the few wx calls that need a real WeChat account, answered by
 * wxsub's WeChat simulator (the one `make run` starts). Everything else goes
 * to the real wx. Give it to createClient as the wx option:
 *
 *   createClient({ baseURL, wx: createSimWx({ simulatorURL, wx }) })
 *
 * - login asks POST /__sim/login for a single-use code (always for the same
 *   simulated user on this device);
 * - requestSubscribeMessage lets you pick the user's answer in an action sheet
 *   and applies it with POST /__sim/popup, which answers exactly what WeChat
 *   gives a mini-program; while the simulated main switch is off it fails with
 *   errCode 20004 like WeChat;
 * - openSetting asks whether to switch notifications back on.
 *
 * Demo code: not part of the wxsub library.
 */
'use strict';

/** Storage key of the simulated user's openid. */
const OPENID_KEY = 'wxsub.demo.openid';

/** The answers offered in the simulated popup. */
const ANSWERS = ['accept', 'acceptWithAudio', 'reject', 'ban'];

/**
 * Creates the stand-in.
 *
 * @param {Object} options
 * @param {string} options.simulatorURL where the simulator listens, e.g. 'http://127.0.0.1:3001'.
 * @param {Object} options.wx the real wx, for requests, storage and dialogs.
 * @param {function(string[]): Promise<string>} [options.choose] picks the user's
 *   answer for the given template ids; defaults to an action sheet.
 * @returns {Object} a wx-shaped object with setMainSwitch(on) and mainSwitch().
 */
function createSimWx(options) {
  const real = options.wx;
  const base = options.simulatorURL.replace(/\/+$/, '');
  const choose = options.choose || function (tmplIds) {
    return new Promise(function (resolve) {
      real.showActionSheet({
        itemList: ANSWERS.map(function (a) { return 'Simulated popup: ' + a; }),
        success: function (res) { resolve(ANSWERS[res.tapIndex]); },
        // Closing the popup without choosing counts as a refusal.
        fail: function () { resolve('reject'); },
      });
    });
  };
  let mainSwitch = true;

  /** POSTs JSON to the simulator; resolves with the decoded answer. */
  function post(path, body) {
    return new Promise(function (resolve, reject) {
      real.request({
        url: base + path,
        method: 'POST',
        header: { 'content-type': 'application/json' },
        dataType: 'json',
        data: body,
        success: function (res) {
          if (res.statusCode >= 200 && res.statusCode < 300) {
            resolve(res.data);
          } else {
            reject({ errMsg: path + ' answered HTTP ' + res.statusCode });
          }
        },
        fail: function (res) {
          reject({ errMsg: 'simulator unreachable at ' + base + ': ' + (res && res.errMsg) });
        },
      });
    });
  }

  // Calls the simulator does not stand in for go to the real wx.
  const sim = {
    request: function (o) { return real.request(o); },
    getStorageSync: function (key) { return real.getStorageSync(key); },
    setStorageSync: function (key, value) { return real.setStorageSync(key, value); },
    removeStorageSync: function (key) { return real.removeStorageSync(key); },
  };

  /** wx.login, answered with a simulator code for this device's simulated user. */
  sim.login = function (o) {
    const openid = real.getStorageSync(OPENID_KEY);
    post('/__sim/login', openid ? { openid: openid } : {}).then(function (res) {
      real.setStorageSync(OPENID_KEY, res.openid);
      o.success({ errMsg: 'login:ok', code: res.code });
    }, function (err) {
      o.fail({ errMsg: 'login:fail ' + err.errMsg });
    });
  };

  /** wx.requestSubscribeMessage, answered by the simulator. */
  sim.requestSubscribeMessage = function (o) {
    if (!mainSwitch) {
      setTimeout(function () {
        o.fail({ errMsg: 'requestSubscribeMessage:fail The main switch is switched off', errCode: 20004 });
      }, 0);
      return;
    }
    const openid = real.getStorageSync(OPENID_KEY);
    if (!openid) {
      setTimeout(function () {
        o.fail({ errMsg: 'requestSubscribeMessage:fail no simulated user yet: log in first' });
      }, 0);
      return;
    }
    choose(o.tmplIds.slice()).then(function (answer) {
      const results = {};
      o.tmplIds.forEach(function (id) { results[id] = answer; });
      return post('/__sim/popup', { openid: openid, results: results });
    }).then(function (res) {
      // The simulator answers WeChat's fail object (e.g. errCode 20001 for
      // an unknown template id) as WeChat gives it: to fail, not success.
      if (res && res.errCode !== undefined) {
        o.fail(res);
        return;
      }
      o.success(res);
    }, function (err) {
      o.fail({ errMsg: 'requestSubscribeMessage:fail ' + err.errMsg });
    });
  };

  /** wx.openSetting: offers to switch the simulated main switch back on. */
  sim.openSetting = function (o) {
    real.showModal({
      title: 'Simulated settings',
      content: 'Switch subscription messages back on?',
      success: function (res) {
        if (res.confirm) {
          mainSwitch = true;
        }
        o.success({ errMsg: 'openSetting:ok', authSetting: {}, subscriptionsSetting: { mainSwitch: mainSwitch } });
      },
      fail: function (res) { o.fail(res); },
    });
  };

  /** Turns the simulated main switch on or off. */
  sim.setMainSwitch = function (on) {
    mainSwitch = Boolean(on);
  };

  /** Reports whether the simulated main switch is on. */
  sim.mainSwitch = function () {
    return mainSwitch;
  };

  return sim;
}

module.exports = { createSimWx: createSimWx, OPENID_KEY: OPENID_KEY };
