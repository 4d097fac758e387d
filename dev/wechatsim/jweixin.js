/*
 * wechatsim's stand-in for WeChat's JS-SDK (jweixin), for testing a web page
 * in an ordinary browser. In WeChat's own browser a page loads the real
 * JS-SDK from https://res.wx.qq.com/open/js/jweixin-1.6.0.js and WeChat draws
 * <wx-open-subscribe> itself; this file plays both against the simulator
 * that served it:
 *
 *   wx.config({appId, timestamp, nonceStr, signature, openTagList})
 *     asks the simulator to check the signature against the jsapi_tickets it
 *     issued (POST /__sim/jssdk/verify), then calls wx.ready or wx.error
 *     with {errMsg: "config:invalid signature"} as WeChat does;
 *   <wx-open-subscribe template="id1,id2">
 *     draws its <script type="text/wxtag-template"> content; a click opens a
 *     simulated popup (buttons #wechatsim-allow, #wechatsim-reject and
 *     #wechatsim-cancel) and applies the choice with POST /__sim/popup, as
 *     the browser's WeChat user (the one the authorize page logged in), then
 *     fires the tag's "success" event with the simulator's detail
 *     {errMsg: "subscribe:ok", subscribeDetails: "<JSON string>"}, or "error".
 */
(function () {
  'use strict';
  var script = document.currentScript;
  var base = script ? new URL(script.src).origin : '';
  var state = { verdict: null, config: null, ready: [], error: [] };

  function post(path, body) {
    return fetch(base + path, {
      method: 'POST',
      credentials: 'include',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }).then(function (r) { return r.json(); });
  }

  function settle(verdict) {
    state.verdict = verdict;
    var list = verdict.errMsg === 'config:ok' ? state.ready : state.error;
    list.slice().forEach(function (fn) { fn(verdict.errMsg === 'config:ok' ? undefined : verdict); });
  }

  var wx = {
    __simulated: true,
    config: function (cfg) {
      state.config = cfg || {};
      state.verdict = null;
      post('/__sim/jssdk/verify', {
        appId: state.config.appId,
        timestamp: state.config.timestamp,
        nonceStr: state.config.nonceStr,
        signature: state.config.signature,
        url: location.href.split('#')[0],
      }).then(settle, function (e) {
        settle({ errMsg: 'config:fail ' + (e && e.message) });
      });
    },
    ready: function (fn) {
      state.ready.push(fn);
      if (state.verdict && state.verdict.errMsg === 'config:ok') fn();
    },
    error: function (fn) {
      state.error.push(fn);
      if (state.verdict && state.verdict.errMsg !== 'config:ok') fn(state.verdict);
    },
  };
  window.wx = window.jWeixin = wx;

  function tagEnabled() {
    return state.verdict && state.verdict.errMsg === 'config:ok' &&
      (state.config.openTagList || []).indexOf('wx-open-subscribe') >= 0;
  }

  function choose(ids) {
    return new Promise(function (resolve) {
      var box = document.createElement('div');
      box.id = 'wechatsim-popup';
      box.setAttribute('role', 'dialog');
      box.style.cssText = 'position:fixed;left:0;right:0;bottom:0;padding:16px;background:#fff;' +
        'border-top:1px solid #ccc;font:15px sans-serif;z-index:2147483647';
      var title = document.createElement('p');
      title.textContent = '(wechatsim) 获取以下订阅通知 / receive these notices: ' + ids.join(', ');
      box.appendChild(title);
      [['wechatsim-allow', '允许 Allow', 'accept'], ['wechatsim-reject', '拒绝 Reject', 'reject'],
        ['wechatsim-cancel', '取消 Cancel', 'cancel']].forEach(function (b) {
        var btn = document.createElement('button');
        btn.id = b[0];
        btn.textContent = b[1];
        btn.addEventListener('click', function () {
          box.remove();
          resolve(b[2]);
        });
        box.appendChild(btn);
      });
      document.body.appendChild(box);
    });
  }

  function fire(el, type, detail) {
    el.dispatchEvent(new CustomEvent(type, { detail: detail }));
  }

  if (window.customElements && !customElements.get('wx-open-subscribe')) {
    customElements.define('wx-open-subscribe', class extends HTMLElement {
      connectedCallback() {
        if (this.shadowRoot) return;
        var root = this.attachShadow({ mode: 'open' });
        this.style.display = this.style.display || 'inline-block';
        var tpl = this.querySelector('script[type="text/wxtag-template"], template');
        root.innerHTML = tpl ? (tpl.content ? '' : tpl.textContent) : '<button>订阅通知</button>';
        if (tpl && tpl.content) root.appendChild(tpl.content.cloneNode(true));
        var el = this;
        root.addEventListener('click', function () { el.open(); });
      }

      open() {
        var el = this;
        if (!tagEnabled()) {
          fire(el, 'error', { errMsg: 'subscribe:fail wx.config is not ready or openTagList lacks wx-open-subscribe' });
          return;
        }
        var ids = (el.getAttribute('template') || '').split(',').map(function (s) { return s.trim(); }).filter(Boolean);
        choose(ids).then(function (status) {
          var results = {};
          ids.forEach(function (id) { results[id] = status; });
          return post('/__sim/popup', { results: results });
        }).then(function (res) {
          if (res && res.errMsg === 'subscribe:ok') fire(el, 'success', res);
          else fire(el, 'error', res && res.errMsg ? res : { errMsg: 'subscribe:fail ' + (res && res.error) });
        }, function (e) {
          fire(el, 'error', { errMsg: 'subscribe:fail ' + (e && e.message) });
        });
      }
    });
  }
})();
