/**
 * wxsub client for WeChat mini-programs.
 *
 * Logs the user in to a wxsub backend, asks WeChat for subscription-message
 * permission, reports what the user chose, and reads the user's remaining
 * credits. CommonJS, no dependencies. Written in ES2015 with plain Promises
 * (no async/await) so it runs unchanged whatever the project's ES6-to-ES5 and
 * enhanced-compile settings are.
 *
 * Only the HTTP contract of wxsub is used: POST /v1/session, POST and
 * GET /v1/subscriptions, GET /v1/templates.
 *
 * A report of a popup result that gets no answer is retried with the same
 * report_id (the server records a report_id once), and one still unsent is
 * kept in storage and sent before the next credits() or subscribe().
 *
 * @module wxsub
 */
'use strict';

/** Storage key under which the session ({token, expires_at, openid}) is kept. */
const SESSION_KEY = 'wxsub.session';

/**
 * Default maximum number of template ids per subscribe() call. WeChat's
 * current documentation allows 5, but older copies and older WeChat clients
 * allow only 3, and those clients fail the whole call (errCode 20003) when
 * given more. Raise it with the maxTmplIds option if your users run recent
 * clients only.
 */
const DEFAULT_MAX_TMPL_IDS = 3;

/** Storage key under which reports not yet sent are kept (at most MAX_PENDING, 24 h). */
const PENDING_KEY = 'wxsub.pendingReports';

/** The most unsent reports kept; older ones are dropped first. */
const MAX_PENDING = 20;

/**
 * How long an unsent report is kept: the server remembers a report_id 24
 * hours, so a report sent later than that could count its tap twice (with
 * WeChat's popup event, when the stack has message push configured).
 */
const PENDING_TTL_MS = 23 * 60 * 60 * 1000;

/** Delays before the retries of a report that got no answer, in milliseconds. */
const DEFAULT_REPORT_RETRY_DELAYS = [500, 2000];

/** errCode of wx.requestSubscribeMessage when the user switched notifications off. */
const MAIN_SWITCH_OFF = 20004;

/**
 * Tells whether a status of wx.requestSubscribeMessage's answer is an
 * accept. WeChat answers 'accept', or 'acceptWithAudio' when the user also
 * turned the voice reminder on, or 'acceptWithAlert' / 'acceptWithForcePush'
 * for its strong reminders: every status that starts with 'accept' is one.
 * Compare with this, not with === 'accept'.
 *
 * @param {string} status a status from subscribe()'s answer.
 * @returns {boolean} true for an accept.
 */
function isAccept(status) {
  return typeof status === 'string' && status.indexOf('accept') === 0;
}

/** A session is treated as expired this many milliseconds before expires_at. */
const EXPIRY_MARGIN_MS = 60 * 1000;

/**
 * Creates an Error carrying wxsub's fields.
 *
 * @param {string} code snake_case error code (the server's, or one of this library's).
 * @param {string} message what went wrong.
 * @param {Object} [fields] extra fields: statusCode, errCode, details, wechat, ...
 * @returns {Error} the error, with name 'WxsubError'.
 */
function wxsubError(code, message, fields) {
  const err = new Error(message || code);
  err.name = 'WxsubError';
  err.code = code;
  return Object.assign(err, fields);
}

/**
 * Turns expires_at (RFC 3339 text, or epoch seconds or milliseconds) into
 * epoch milliseconds.
 *
 * @param {string|number} value the server's expires_at.
 * @returns {number} epoch milliseconds, or NaN when the value is unreadable.
 */
function expiryMillis(value) {
  if (typeof value === 'number') {
    return value < 1e12 ? value * 1000 : value;
  }
  if (typeof value === 'string' && /^\d+$/.test(value)) {
    return expiryMillis(Number(value));
  }
  return Date.parse(value);
}

/**
 * Returns the list inside a GET answer: a bare array, or the array under key.
 *
 * @param {*} body the decoded answer.
 * @param {string} key the property that holds the list.
 * @returns {Array} the list (empty when there is none).
 */
function listOf(body, key) {
  if (Array.isArray(body)) {
    return body;
  }
  return body && Array.isArray(body[key]) ? body[key] : [];
}

/**
 * Creates a wxsub client.
 *
 * @param {Object} options
 * @param {string} options.baseURL where the wxsub API is, e.g. 'https://api.example.com'.
 * @param {number} [options.maxTmplIds=3] the most template ids one subscribe() may ask for.
 * @param {Object} [options.wx] the WeChat API object; defaults to the global wx.
 * @param {function(): number} [options.now] clock in epoch milliseconds; defaults to Date.now.
 * @param {function(): Promise<string|Object>} [options.login] your app's own login, used
 *   instead of calling wx.login: it resolves with a wx.login code for wxsub to trade, or
 *   with a wxsub session {token, expires_at, openid} your app already holds.
 * @param {number[]} [options.reportRetryDelays=[500, 2000]] the waits before retrying a
 *   report that got no answer (or a 5xx or 429), in milliseconds.
 * @returns {Client} the client.
 */
function createClient(options) {
  const opts = options || {};
  if (typeof opts.baseURL !== 'string' || opts.baseURL === '') {
    throw new TypeError('wxsub: createClient needs a baseURL');
  }
  const maxTmplIds = opts.maxTmplIds === undefined ? DEFAULT_MAX_TMPL_IDS : opts.maxTmplIds;
  if (!Number.isInteger(maxTmplIds) || maxTmplIds < 1) {
    throw new TypeError('wxsub: maxTmplIds must be a positive integer');
  }
  if (opts.login !== undefined && typeof opts.login !== 'function') {
    throw new TypeError('wxsub: login must be a function returning a Promise');
  }
  const delays = opts.reportRetryDelays === undefined ? DEFAULT_REPORT_RETRY_DELAYS : opts.reportRetryDelays;
  if (!Array.isArray(delays) || delays.some(function (d) { return !(d >= 0); })) {
    throw new TypeError('wxsub: reportRetryDelays must be an array of milliseconds');
  }
  const c = new Client(opts.baseURL.replace(/\/+$/, ''), maxTmplIds, opts.wx, opts.now || Date.now);
  c._loginHook = opts.login || null;
  c._retryDelays = delays.slice();
  return c;
}

/**
 * A wxsub client. Create it with createClient.
 *
 * @class
 * @param {string} baseURL API base URL without a trailing slash.
 * @param {number} maxTmplIds the most template ids per subscribe().
 * @param {Object|undefined} wxAPI the WeChat API object, or undefined for the global wx.
 * @param {function(): number} now clock in epoch milliseconds.
 */
function Client(baseURL, maxTmplIds, wxAPI, now) {
  this._baseURL = baseURL;
  this._maxTmplIds = maxTmplIds;
  this._wxAPI = wxAPI;
  this._now = now;
  this._session = null; // memory copy of the stored session
  this._loggingIn = null; // the login in flight, shared by concurrent callers
  this._types = {}; // template id -> 'one_time' | 'long_term'
  this._loginHook = null; // the app's own login, instead of wx.login
  this._retryDelays = DEFAULT_REPORT_RETRY_DELAYS;
  this._flushing = null; // the flush of unsent reports in flight
}

/**
 * Returns the WeChat API object in use.
 *
 * @private
 * @returns {Object} wx.
 */
Client.prototype._wx = function () {
  if (this._wxAPI) {
    return this._wxAPI;
  }
  if (typeof wx === 'undefined') {
    throw wxsubError('no_wx', 'wxsub: no wx object (pass one with the wx option)');
  }
  return wx;
};

/**
 * Returns the stored session when it is still valid, else null.
 *
 * @private
 * @returns {?{token: string, expires_at: (string|number), openid: string}} the session.
 */
Client.prototype._validSession = function () {
  let s = this._session;
  if (!s) {
    try {
      s = this._wx().getStorageSync(SESSION_KEY) || null;
    } catch (e) {
      s = null;
    }
  }
  if (!s || typeof s.token !== 'string' || s.token === '') {
    return null;
  }
  const expires = expiryMillis(s.expires_at);
  if (!(expires - EXPIRY_MARGIN_MS > this._now())) {
    return null;
  }
  this._session = s;
  return s;
};

/**
 * Keeps a session in memory and in storage (a failing storage is tolerated).
 *
 * @private
 * @param {?Object} s the session, or null to forget it.
 */
Client.prototype._keep = function (s) {
  this._session = s;
  try {
    const w = this._wx();
    if (s) {
      w.setStorageSync(SESSION_KEY, s);
    } else {
      w.removeStorageSync(SESSION_KEY);
    }
  } catch (e) {
    // Storage full or unavailable: the memory copy still serves this launch.
  }
};

/**
 * Logs in: wx.login (or the login option's hook), then POST /v1/session with
 * the code. The session is kept in storage under 'wxsub.session' and reused
 * until shortly before it expires. Concurrent calls share one login.
 *
 * @param {Object} [options]
 * @param {boolean} [options.force=false] log in again even if a valid session is stored.
 * @returns {Promise<{token: string, expires_at: (string|number), openid: string}>}
 *   the session as POST /v1/session answered it.
 */
Client.prototype.login = function (options) {
  const force = Boolean(options && options.force);
  if (!force) {
    const s = this._validSession();
    if (s) {
      return Promise.resolve(s);
    }
  }
  if (this._loggingIn) {
    return this._loggingIn;
  }
  const self = this;
  const done = this._loginCode()
    .then(function (got) {
      if (got && typeof got === 'object' && typeof got.token === 'string') {
        return got; // a session the app's own login already holds
      }
      if (typeof got !== 'string' || got === '') {
        throw wxsubError('login_failed', 'wxsub: the login hook gave neither a wx.login code nor a session');
      }
      return self._send('POST', '/v1/session', { code: got }, null);
    })
    .then(function (body) {
      if (!body || typeof body.token !== 'string' || body.token === '') {
        throw wxsubError('invalid_response', 'wxsub: POST /v1/session answered without a token');
      }
      const s = { token: body.token, expires_at: body.expires_at, openid: body.openid };
      self._keep(s);
      return s;
    });
  this._loggingIn = done;
  const clear = function () {
    self._loggingIn = null;
  };
  done.then(clear, clear);
  return done;
};

/**
 * Gets what a login trades: the app's login hook's answer, or a wx.login code.
 *
 * @private
 * @returns {Promise<string|Object>} a code, or a session.
 */
Client.prototype._loginCode = function () {
  if (!this._loginHook) {
    return this._wxLogin();
  }
  const hook = this._loginHook;
  return new Promise(function (resolve) {
    resolve(hook());
  }).then(function (got) {
    return got && typeof got === 'object' && typeof got.code === 'string' ? got.code : got;
  }, function (err) {
    throw wxsubError('login_failed', (err && (err.message || err.errMsg)) || 'the login hook failed');
  });
};

/**
 * Calls wx.login.
 *
 * @private
 * @returns {Promise<string>} the login code.
 */
Client.prototype._wxLogin = function () {
  const self = this;
  return new Promise(function (resolve, reject) {
    self._wx().login({
      success: function (res) {
        if (res && res.code) {
          resolve(res.code);
        } else {
          reject(wxsubError('login_failed', (res && res.errMsg) || 'wx.login gave no code'));
        }
      },
      fail: function (res) {
        reject(wxsubError('login_failed', (res && res.errMsg) || 'wx.login failed', {
          errCode: res && res.errCode,
        }));
      },
    });
  });
};

/**
 * Sends one JSON request with wx.request. A 2xx answer resolves with its body;
 * any other status rejects with {statusCode, code, message} taken from the
 * contract's error shape; a request that never got an answer rejects with
 * code 'network_error'.
 *
 * @private
 * @param {string} method HTTP method.
 * @param {string} path path under the base URL.
 * @param {*} data JSON body, or undefined.
 * @param {?string} token session token for the Authorization header, or null.
 * @returns {Promise<*>} the decoded answer.
 */
Client.prototype._send = function (method, path, data, token) {
  const self = this;
  const url = this._baseURL + path;
  const header = { 'content-type': 'application/json' };
  if (token) {
    header.Authorization = 'Bearer ' + token;
  }
  return new Promise(function (resolve, reject) {
    const req = {
      url: url,
      method: method,
      header: header,
      dataType: 'json',
      success: function (res) {
        if (res.statusCode >= 200 && res.statusCode < 300) {
          resolve(res.data);
          return;
        }
        const e = res.data && res.data.error;
        const fields = { statusCode: res.statusCode };
        if (e && e.details) {
          fields.details = e.details;
        }
        if (e && e.wechat) {
          fields.wechat = e.wechat;
        }
        reject(wxsubError(
          (e && e.code) || 'http_error',
          (e && e.message) || method + ' ' + path + ' answered HTTP ' + res.statusCode,
          fields
        ));
      },
      fail: function (res) {
        reject(wxsubError('network_error', (res && res.errMsg) || 'request failed', {
          errCode: res && res.errCode,
        }));
      },
    };
    if (data !== undefined) {
      req.data = data;
    }
    self._wx().request(req);
  });
};

/**
 * Sends an authenticated request, logging in first when needed. On a 401 it
 * logs in again once and repeats the request; a second 401 rejects.
 *
 * @private
 * @param {string} method HTTP method.
 * @param {string} path path under the base URL.
 * @param {*} [data] JSON body.
 * @returns {Promise<*>} the decoded answer.
 */
Client.prototype._call = function (method, path, data) {
  const self = this;
  return this.login().then(function (s) {
    return self._send(method, path, data, s.token).catch(function (err) {
      if (err.statusCode !== 401) {
        throw err;
      }
      return self._relogin(s.token).then(function (fresh) {
        return self._send(method, path, data, fresh.token).catch(function (again) {
          if (again.statusCode === 401) {
            self._keep(null); // the server refuses even a fresh token: keep nothing
          }
          throw again;
        });
      });
    });
  });
};

/**
 * Replaces a session the server refused. If another call already replaced it,
 * the newer session is used without logging in again.
 *
 * @private
 * @param {string} refused the token that got a 401.
 * @returns {Promise<Object>} a session with another token.
 */
Client.prototype._relogin = function (refused) {
  if (this._loggingIn) {
    return this._loggingIn;
  }
  const s = this._validSession();
  if (s && s.token !== refused) {
    return Promise.resolve(s);
  }
  this._keep(null);
  return this.login({ force: true });
};

/**
 * Remembers the type of every template in a list, for the mixed-type check.
 *
 * @private
 * @param {Array<Object>} list items with a type and an id (or template_id).
 */
Client.prototype._learnTypes = function (list) {
  for (let i = 0; i < list.length; i++) {
    const id = list[i].id || list[i].template_id;
    if (id && list[i].type) {
      this._types[id] = list[i].type;
    }
  }
};

/**
 * Checks template ids before WeChat is asked.
 *
 * @private
 * @param {*} tmplIds what the caller passed.
 * @returns {?Error} the problem, or null.
 */
Client.prototype._checkTmplIds = function (tmplIds) {
  if (!Array.isArray(tmplIds) || tmplIds.length === 0) {
    return wxsubError('invalid_argument', 'wxsub: subscribe needs a non-empty array of template ids');
  }
  for (let i = 0; i < tmplIds.length; i++) {
    if (typeof tmplIds[i] !== 'string' || tmplIds[i] === '') {
      return wxsubError('invalid_argument', 'wxsub: template ids must be non-empty strings');
    }
  }
  if (tmplIds.length > this._maxTmplIds) {
    return wxsubError('too_many_templates',
      'wxsub: at most ' + this._maxTmplIds + ' template ids per call, got ' + tmplIds.length);
  }
  const seen = {};
  const types = [];
  for (let i = 0; i < tmplIds.length; i++) {
    const t = this._types[tmplIds[i]];
    if (t && !seen[t]) {
      seen[t] = true;
      types.push(t);
    }
  }
  if (types.length > 1) {
    return wxsubError('mixed_template_types',
      'wxsub: one-time and long-term templates cannot be asked for in one call');
  }
  return null;
};

/**
 * Makes the report_id of one popup result: 1-64 visible ASCII characters,
 * unique enough for one user's reports of a day. It names a report, so that
 * the server records a retried report once; it is not a secret.
 *
 * @private
 * @returns {string} a fresh report id.
 */
function newReportId() {
  let id = 'r' + Date.now().toString(36);
  for (let i = 0; i < 4; i++) {
    id += '-' + Math.floor(Math.random() * 0x100000000).toString(36);
  }
  return id;
}

/**
 * Asks the user for permission to send the given templates and reports the
 * answer to wxsub. Call it straight from a tap handler: WeChat shows the
 * popup only when it is called in a tap, so this function calls
 * wx.requestSubscribeMessage before it does anything asynchronous.
 *
 * Before asking WeChat it rejects an empty list, a list longer than
 * maxTmplIds, and a list that mixes one-time and long-term templates (types
 * come from an earlier templates() or credits(); ids whose type is not known
 * yet are left for WeChat to judge).
 *
 * Resolves with one item per template id, in the order given: status is what
 * WeChat answered for this tap ('accept' or a variant such as
 * 'acceptWithAudio' — test it with isAccept() —, 'reject', 'ban' or 'filter') and
 * credits is the user's balance after the report (null for long-term).
 * When the user has switched notifications off (errCode 20004), it records
 * that with wxsub and resolves with {mainSwitchOff: true, openSettings};
 * openSettings must itself be called from a tap (e.g. a "open settings" button).
 * Any other WeChat failure rejects with code 'subscribe_failed', errCode and
 * WeChat's errMsg. If the report to wxsub fails, it rejects with that error,
 * carrying results (credits null) or mainSwitchOff so the page can still tell
 * the user what happened, and retryReport(): it sends the same report again
 * (the same report_id, so the tap still counts once) and resolves like
 * subscribe(). Every report carries a report_id made once per popup result.
 *
 * @param {string[]} tmplIds template ids (see templates()).
 * @returns {Promise<Array<{templateId: string, status: string, credits: ?number}>|{mainSwitchOff: true, openSettings: function(): Promise<Object>}>}
 */
Client.prototype.subscribe = function (tmplIds) {
  const problem = this._checkTmplIds(tmplIds);
  if (problem) {
    return Promise.reject(problem);
  }
  const self = this;
  const ids = tmplIds.slice();
  // The executor runs synchronously, so WeChat is asked within the tap.
  const asked = new Promise(function (resolve, reject) {
    self._wx().requestSubscribeMessage({ tmplIds: ids, success: resolve, fail: reject });
  });
  return asked.then(
    function (raw) {
      // One report_id per popup result, reused by every retry of its report:
      // wxsub records a report_id once, so a retry cannot count the tap twice.
      const body = { result: raw, report_id: newReportId(), at: self._now() };
      const report = function () {
        return self._report(body).then(
          function (answer) {
            return self._items(ids, raw, listOf(answer, 'subscriptions'));
          },
          function (err) {
            err.results = self._items(ids, raw, []);
            err.retryReport = report;
            throw err;
          }
        );
      };
      return self.flushReports().then(report, report);
    },
    function (res) {
      if (res instanceof Error) {
        throw res; // no wx object: not an answer from WeChat
      }
      const errCode = res && res.errCode !== undefined ? Number(res.errCode) : undefined;
      const errMsg = (res && res.errMsg) || 'requestSubscribeMessage:fail';
      if (errCode !== MAIN_SWITCH_OFF) {
        throw wxsubError('subscribe_failed', errMsg, { errCode: errCode });
      }
      const openSettings = function () {
        return self.openSettings();
      };
      const report = { result: { errMsg: errMsg, errCode: MAIN_SWITCH_OFF }, report_id: newReportId(), at: self._now() };
      return self._report(report).then(
        function () {
          return { mainSwitchOff: true, openSettings: openSettings };
        },
        function (err) {
          err.mainSwitchOff = true;
          err.openSettings = openSettings;
          throw err;
        }
      );
    }
  );
};

/**
 * Tells whether a failed report may succeed if sent again: no answer, a 5xx
 * or a 429. Any other answer is final (the report is malformed or refused).
 *
 * @private
 * @param {Error} err the report's error.
 * @returns {boolean} true when a retry may help.
 */
function retryable(err) {
  return err.code === 'network_error' || err.statusCode >= 500 || err.statusCode === 429;
}

/**
 * Sends one report (POST /v1/subscriptions), retrying after the configured
 * delays while it gets no answer, a 5xx or a 429. A report that still fails
 * that way is kept in storage for flushReports() and the error carries
 * pending: true.
 *
 * @private
 * @param {Object} body the report, with its report_id and the time it was made (at).
 * @returns {Promise<*>} the server's answer.
 */
Client.prototype._report = function (body) {
  const self = this;
  const send = function () {
    return self._call('POST', '/v1/subscriptions', { result: body.result, report_id: body.report_id });
  };
  let attempt = send();
  this._retryDelays.forEach(function (delay) {
    attempt = attempt.catch(function (err) {
      if (!retryable(err)) {
        throw err;
      }
      return new Promise(function (resolve) { setTimeout(resolve, delay); }).then(send);
    });
  });
  return attempt.then(function (answer) {
    self._unpend(body.report_id);
    return answer;
  }, function (err) {
    if (retryable(err)) {
      self._pend(body);
      err.pending = true;
    } else {
      self._unpend(body.report_id);
    }
    throw err;
  });
};

/**
 * Reads the unsent reports, dropping those too old to send.
 *
 * @private
 * @returns {Array<Object>} the reports, oldest first.
 */
Client.prototype._pending = function () {
  let list;
  try {
    list = this._wx().getStorageSync(PENDING_KEY);
  } catch (e) {
    list = null;
  }
  const now = this._now();
  return (Array.isArray(list) ? list : []).filter(function (r) {
    return r && r.report_id && r.result && now - r.at < PENDING_TTL_MS;
  });
};

/**
 * Stores the unsent reports (a failing storage is tolerated).
 *
 * @private
 * @param {Array<Object>} list the reports.
 */
Client.prototype._storePending = function (list) {
  try {
    if (list.length) {
      this._wx().setStorageSync(PENDING_KEY, list.slice(-MAX_PENDING));
    } else {
      this._wx().removeStorageSync(PENDING_KEY);
    }
  } catch (e) {
    // Storage full or unavailable: the report is lost here, and WeChat's
    // popup event (message push) still counts the tap on the server.
  }
};

/** @private */
Client.prototype._pend = function (body) {
  const list = this._pending().filter(function (r) { return r.report_id !== body.report_id; });
  list.push(body);
  this._storePending(list);
};

/** @private */
Client.prototype._unpend = function (reportId) {
  const list = this._pending();
  const left = list.filter(function (r) { return r.report_id !== reportId; });
  if (left.length !== list.length) {
    this._storePending(left);
  }
};

/**
 * Sends the reports that got no answer earlier (kept in storage, even across
 * launches), each with its own report_id, so a tap whose report was lost
 * still counts once. credits() and subscribe() call it first; it never
 * rejects: reports that still get no answer stay for the next time.
 *
 * @returns {Promise<number>} how many reports are still unsent.
 */
Client.prototype.flushReports = function () {
  if (this._flushing) {
    return this._flushing;
  }
  const self = this;
  const list = this._pending();
  if (list.length === 0) {
    return Promise.resolve(0);
  }
  let chain = Promise.resolve();
  list.forEach(function (body) {
    chain = chain.then(function () {
      return self._call('POST', '/v1/subscriptions', { result: body.result, report_id: body.report_id }).then(
        function () { self._unpend(body.report_id); },
        function (err) {
          if (!retryable(err)) {
            self._unpend(body.report_id); // refused for good: sending it again changes nothing
          }
        }
      );
    });
  });
  const done = chain.then(function () {
    self._flushing = null;
    return self._pending().length;
  });
  this._flushing = done;
  return done;
};

/**
 * Reads the user's subscription settings (wx.getSetting with
 * withSubscriptions): whether notifications are on, and the templates for
 * which the user ticked "always keep this choice" (总是保持以上选择) with the
 * kept answer. For such a template WeChat shows no popup: a kept accept is
 * granted silently when subscribe() is called (still from a tap), a kept
 * reject is answered at once, so a page can skip asking or explain where to
 * change it (openSettings()).
 *
 * @returns {Promise<{mainSwitch: boolean, always: Object<string, string>}>}
 *   always maps a template id to 'accept', 'reject' or 'ban'.
 */
Client.prototype.subscriptionSettings = function () {
  const self = this;
  return new Promise(function (resolve, reject) {
    self._wx().getSetting({
      withSubscriptions: true,
      success: function (res) {
        const setting = (res && res.subscriptionsSetting) || {};
        const items = setting.itemSettings || {};
        const always = {};
        Object.keys(items).forEach(function (id) {
          if (typeof items[id] === 'string') {
            always[id] = items[id];
          }
        });
        resolve({ mainSwitch: setting.mainSwitch !== false, always: always });
      },
      fail: function (res) {
        reject(wxsubError('get_setting_failed', (res && res.errMsg) || 'getSetting:fail', {
          errCode: res && res.errCode,
        }));
      },
    });
  });
};

/**
 * Builds subscribe()'s answer.
 *
 * @private
 * @param {string[]} ids the template ids asked for.
 * @param {Object} raw WeChat's success object, keyed by template id.
 * @param {Array<Object>} reported the server's subscriptions ({template_id, credits}).
 * @returns {Array<{templateId: string, status: string, credits: ?number}>} one item per id.
 */
Client.prototype._items = function (ids, raw, reported) {
  const credits = {};
  for (let i = 0; i < reported.length; i++) {
    credits[reported[i].template_id] = reported[i].credits;
  }
  return ids.map(function (id) {
    const c = credits[id];
    return { templateId: id, status: raw[id], credits: typeof c === 'number' ? c : null };
  });
};

/**
 * Opens the mini-program's settings page (wx.openSetting with subscriptions),
 * where the user can switch notifications back on. WeChat allows it only from
 * a tap.
 *
 * @returns {Promise<Object>} wx.openSetting's result (authSetting, subscriptionsSetting).
 */
Client.prototype.openSettings = function () {
  const self = this;
  return new Promise(function (resolve, reject) {
    self._wx().openSetting({
      withSubscriptions: true,
      success: resolve,
      fail: function (res) {
        reject(wxsubError('open_setting_failed', (res && res.errMsg) || 'openSetting:fail', {
          errCode: res && res.errCode,
        }));
      },
    });
  });
};

/**
 * Reads the user's subscriptions: every template of the app with this user's
 * status and remaining credits (GET /v1/subscriptions).
 *
 * @returns {Promise<Array<{templateId: string, type: string, status: ?string, credits: ?number, updatedAt: ?string}>>}
 *   one item per template; credits is null for long-term templates.
 */
Client.prototype.credits = function () {
  const self = this;
  const read = function () {
    return self._call('GET', '/v1/subscriptions');
  };
  return this.flushReports().then(read, read).then(function (body) {
    const list = listOf(body, 'subscriptions');
    self._learnTypes(list);
    return list.map(function (s) {
      return {
        templateId: s.template_id,
        type: s.type,
        status: s.status === undefined ? null : s.status,
        credits: typeof s.credits === 'number' ? s.credits : null,
        updatedAt: s.updated_at === undefined ? null : s.updated_at,
      };
    });
  });
};

/**
 * Reads the app's templates (GET /v1/templates) and remembers their types
 * for subscribe()'s mixed-type check.
 *
 * @returns {Promise<Array<{id: string, title: string, type: string, keywords: Array<Object>}>>}
 *   the templates as the server describes them.
 */
Client.prototype.templates = function () {
  const self = this;
  return this._call('GET', '/v1/templates').then(function (body) {
    const list = listOf(body, 'templates');
    self._learnTypes(list);
    return list;
  });
};

module.exports = {
  createClient: createClient,
  isAccept: isAccept,
  SESSION_KEY: SESSION_KEY,
  PENDING_KEY: PENDING_KEY,
  DEFAULT_MAX_TMPL_IDS: DEFAULT_MAX_TMPL_IDS,
};
