/**
 * wxsub client for the web pages of a WeChat official account (服务号).
 *
 * In a page opened inside WeChat it logs the user in with WeChat's web
 * authorisation (snsapi_base: a redirect, no prompt), configures the JS-SDK
 * with the signature wxsub makes (GET /v1/jssdk-config) so that the
 * <wx-open-subscribe> button can show, and reports what the user chose in
 * the button's popup (its success event) to wxsub, which keeps the ledger.
 * No dependencies; a plain <script> (global wxsubWeb) or CommonJS.
 *
 * Only the HTTP contract of wxsub is used: POST /v1/session,
 * GET /v1/jssdk-config, POST and GET /v1/subscriptions, GET /v1/templates.
 * The JS-SDK itself (jweixin, global wx) is WeChat's: load
 * https://res.wx.qq.com/open/js/jweixin-1.6.0.js before calling configure().
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) {
    module.exports = factory();
  } else {
    root.wxsubWeb = factory();
  }
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  /** WeChat's web authorisation page. */
  var AUTHORIZE_BASE = 'https://open.weixin.qq.com';
  /** Storage keys (sessionStorage by default). */
  var SESSION_KEY = 'wxsub.web.session';
  var STATE_KEY = 'wxsub.web.oauth_state';
  /** errCode of a subscription failure because the user switched notifications off. */
  var MAIN_SWITCH_OFF = 20004;
  /** A session is treated as expired this long before expires_at. */
  var EXPIRY_MARGIN_MS = 60 * 1000;
  /** Attempts of one report (its report_id makes a repeat harmless). */
  var REPORT_ATTEMPTS = 3;

  function wxsubError(code, message, fields) {
    var err = new Error(message || code);
    err.name = 'WxsubError';
    err.code = code;
    return Object.assign(err, fields);
  }

  /** 32 hex characters from a good random source. */
  function randomHex(cryptoObj) {
    var bytes = new Uint8Array(16);
    cryptoObj.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? '0' : '') + b.toString(16);
    }).join('');
  }

  /** The page's URL as WeChat's signature covers it: without its #fragment. */
  function pageURL(href) {
    return String(href).split('#')[0];
  }

  /**
   * Creates a client.
   *
   * @param {Object} options
   * @param {string} options.api wxsub's base URL, e.g. 'https://api.example.com'.
   * @param {string} [options.appId] the official account's AppID; when left out it is read from GET /v1/jssdk-config.
   * @param {string} [options.authorizeBase] where WeChat's authorize page is (the simulator's URL when testing).
   * @param {Object} [options.window] the window (location, history, fetch, sessionStorage, crypto, wx); defaults to the global one.
   * @param {function(): number} [options.now] clock in epoch milliseconds.
   */
  function create(options) {
    var opts = options || {};
    if (typeof opts.api !== 'string' || opts.api === '') {
      throw new TypeError('wxsubWeb: create needs the api base URL');
    }
    var win = opts.window || (typeof window !== 'undefined' ? window : undefined);
    if (!win) {
      throw new TypeError('wxsubWeb: no window; pass options.window');
    }
    return new Client(opts, win);
  }

  function Client(opts, win) {
    this.api = opts.api.replace(/\/+$/, '');
    this.appIdValue = opts.appId || '';
    this.authorizeBase = (opts.authorizeBase || AUTHORIZE_BASE).replace(/\/+$/, '');
    this.win = win;
    this.now = opts.now || Date.now;
    this.session = null;
    this.lastConfig = null;
  }

  Client.prototype.storage = function () {
    try {
      return this.win.sessionStorage || null;
    } catch (e) {
      return null; // storage refused (private mode, sandboxed frame)
    }
  };

  Client.prototype.request = function (method, path, body, auth) {
    var headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) headers.Authorization = 'Bearer ' + auth;
    return this.win.fetch(this.api + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try {
          data = text ? JSON.parse(text) : null;
        } catch (e) {
          data = null;
        }
        if (resp.status >= 200 && resp.status < 300) return data;
        var e = (data && data.error) || {};
        throw wxsubError(e.code || 'http_' + resp.status, e.message || 'wxsub answered HTTP ' + resp.status,
          { statusCode: resp.status, details: e.details, wechat: e.wechat });
      });
    }, function (err) {
      throw wxsubError('network', 'wxsub could not be reached: ' + (err && err.message), { cause: err });
    });
  };

  /** The official account's AppID: the option, or what GET /v1/jssdk-config answers. */
  Client.prototype.appId = function () {
    var self = this;
    if (self.appIdValue) return Promise.resolve(self.appIdValue);
    return self.request('GET', '/v1/jssdk-config?url=' + encodeURIComponent(pageURL(self.win.location.href)))
      .then(function (c) {
        self.appIdValue = c.appId;
        return c.appId;
      });
  };

  /**
   * The URL of WeChat's authorize page that comes back to this page with a
   * code (snsapi_base: WeChat asks the user nothing). state guards the
   * return against a code from elsewhere.
   */
  Client.prototype.authorizeURL = function (appId, state) {
    var back = new URL(this.win.location.href);
    back.hash = '';
    back.searchParams.delete('code');
    back.searchParams.delete('state');
    return this.authorizeBase + '/connect/oauth2/authorize?appid=' + encodeURIComponent(appId) +
      '&redirect_uri=' + encodeURIComponent(back.toString()) +
      '&response_type=code&scope=snsapi_base&state=' + encodeURIComponent(state) + '#wechat_redirect';
  };

  /** Sends the browser to WeChat's authorize page; the promise never settles. */
  Client.prototype.redirectToAuthorize = function () {
    var self = this;
    return self.appId().then(function (appId) {
      var state = randomHex(self.win.crypto).slice(0, 16);
      var st = self.storage();
      if (st) st.setItem(STATE_KEY, state);
      self.win.location.assign(self.authorizeURL(appId, state));
      return new Promise(function () {});
    });
  };

  Client.prototype.storedSession = function () {
    var st = this.storage();
    var raw = st && st.getItem(SESSION_KEY);
    if (!raw) return null;
    try {
      var s = JSON.parse(raw);
      if (s && s.token && Date.parse(s.expires_at) - EXPIRY_MARGIN_MS > this.now()) return s;
    } catch (e) {
      // unreadable: log in again
    }
    return null;
  };

  /**
   * Logs the user in: a session kept from earlier in this tab, else the code
   * WeChat's authorisation put on the URL (traded by POST /v1/session),
   * else a redirect to WeChat's authorize page (the promise then never
   * settles: the page unloads). A code that is refused (expired, used, from
   * another state) sends the browser through the authorisation again, once.
   *
   * @returns {Promise<{token: string, expires_at: string, openid: string}>}
   */
  Client.prototype.login = function () {
    var self = this;
    var kept = self.storedSession();
    if (kept) {
      self.session = kept;
      return Promise.resolve(kept);
    }
    var url = new URL(self.win.location.href);
    var code = url.searchParams.get('code');
    if (!code) return self.redirectToAuthorize();
    var st = self.storage();
    var expected = st && st.getItem(STATE_KEY);
    var retried = st && st.getItem(STATE_KEY + '.retried');
    if (expected && url.searchParams.get('state') !== expected) {
      return Promise.reject(wxsubError('state_mismatch',
        'the code on this URL was not asked for by this page (state differs); open the page again'));
    }
    return self.request('POST', '/v1/session', { code: code }).then(function (s) {
      self.session = s;
      if (st) {
        st.setItem(SESSION_KEY, JSON.stringify(s));
        st.removeItem(STATE_KEY);
        st.removeItem(STATE_KEY + '.retried');
      }
      return s;
    }, function (err) {
      if (err.code === 'invalid_code' && !retried) {
        // A reload of the page after the code was spent: ask WeChat again.
        if (st) st.setItem(STATE_KEY + '.retried', '1');
        return self.redirectToAuthorize();
      }
      throw err;
    });
  };

  /**
   * Configures the JS-SDK for <wx-open-subscribe>: GET /v1/jssdk-config for
   * this page's URL, then wx.config with openTagList ['wx-open-subscribe'].
   * When WeChat refuses the signature ("invalid signature"), it asks wxsub
   * once more, naming the refused nonceStr, which lets wxsub replace a
   * jsapi_ticket WeChat no longer honours.
   *
   * @param {Object} [extra] more for wx.config: jsApiList, openTagList, debug.
   * @returns {Promise<Object>} the configuration once wx.ready fires.
   */
  Client.prototype.configure = function (extra) {
    var self = this;
    var wx = self.win.wx;
    if (!wx || typeof wx.config !== 'function') {
      return Promise.reject(wxsubError('no_jssdk', 'the JS-SDK (jweixin) is not loaded: include it before configure()'));
    }
    var more = extra || {};
    var tags = (more.openTagList || []).slice();
    if (tags.indexOf('wx-open-subscribe') < 0) tags.push('wx-open-subscribe');
    var page = pageURL(self.win.location.href);
    function attempt(failed) {
      var q = '/v1/jssdk-config?url=' + encodeURIComponent(page) + (failed ? '&failed=' + encodeURIComponent(failed) : '');
      return self.request('GET', q).then(function (c) {
        self.appIdValue = self.appIdValue || c.appId;
        return new Promise(function (resolve, reject) {
          var done = false;
          wx.ready(function () {
            if (!done) {
              done = true;
              resolve(c);
            }
          });
          wx.error(function (res) {
            if (!done) {
              done = true;
              reject(Object.assign(wxsubError('config_failed', (res && res.errMsg) || 'wx.config failed'), { nonceStr: c.nonceStr, res: res }));
            }
          });
          wx.config({
            debug: !!more.debug,
            appId: c.appId,
            timestamp: c.timestamp,
            nonceStr: c.nonceStr,
            signature: c.signature,
            jsApiList: more.jsApiList || [],
            openTagList: tags,
          });
        });
      });
    }
    return attempt('').catch(function (err) {
      if (err.code === 'config_failed' && /invalid signature/.test(err.message)) {
        return attempt(err.nonceStr);
      }
      throw err;
    }).then(function (c) {
      self.lastConfig = c;
      return c;
    });
  };

  /**
   * Reports a <wx-open-subscribe> result: the success event's detail
   * ({errMsg: "subscribe:ok", subscribeDetails: "<JSON string>"}) as it came,
   * with a report_id made once for it and reused when the report is retried
   * (a network failure or a 5xx), so that wxsub counts it once.
   *
   * @returns {Promise<Object>} wxsub's answer: {subscriptions: [{template_id, status, credits}]}.
   */
  Client.prototype.report = function (detail, reportId) {
    var self = this;
    if (!self.session) return Promise.reject(wxsubError('not_logged_in', 'call login() first'));
    var id = reportId || randomHex(self.win.crypto);
    var result = { errMsg: detail && detail.errMsg };
    if (detail && detail.subscribeDetails !== undefined) result.subscribeDetails = detail.subscribeDetails;
    if (detail && detail.errCode !== undefined) result.errCode = detail.errCode;
    var body = { result: result, report_id: id };
    function send(left) {
      return self.request('POST', '/v1/subscriptions', body, self.session.token).catch(function (err) {
        var transient = err.code === 'network' || (err.statusCode >= 500 && err.statusCode !== 501);
        if (transient && left > 1) return send(left - 1);
        throw Object.assign(err, { reportId: id });
      });
    }
    return send(REPORT_ATTEMPTS);
  };

  /**
   * Wires a <wx-open-subscribe> element: its success event is reported
   * (handlers.onReport gets wxsub's answer, handlers.onError any failure);
   * its error event goes to handlers.onError, and is reported only when it
   * says the user switched notifications off (errCode 20004), the one
   * failure the ledger records.
   *
   * @returns {function()} removes the listeners.
   */
  Client.prototype.bind = function (el, handlers) {
    var self = this;
    var h = handlers || {};
    var onError = h.onError || function () {};
    function success(e) {
      self.report(e.detail).then(h.onReport || function () {}, onError);
    }
    function error(e) {
      var d = e.detail || {};
      if (Number(d.errCode) === MAIN_SWITCH_OFF) {
        self.report(d).then(h.onReport || function () {}, onError);
        return;
      }
      onError(wxsubError('subscribe_failed', d.errMsg || 'wx-open-subscribe failed', { errCode: d.errCode, detail: d }));
    }
    el.addEventListener('success', success);
    el.addEventListener('error', error);
    return function () {
      el.removeEventListener('success', success);
      el.removeEventListener('error', error);
    };
  };

  /** The user's ledger: GET /v1/subscriptions. */
  Client.prototype.subscriptions = function () {
    if (!this.session) return Promise.reject(wxsubError('not_logged_in', 'call login() first'));
    return this.request('GET', '/v1/subscriptions', undefined, this.session.token);
  };

  /** The app's templates: GET /v1/templates. */
  Client.prototype.templates = function () {
    if (!this.session) return Promise.reject(wxsubError('not_logged_in', 'call login() first'));
    return this.request('GET', '/v1/templates', undefined, this.session.token);
  };

  return { create: create, pageURL: pageURL, MAIN_SWITCH_OFF: MAIN_SWITCH_OFF };
});
