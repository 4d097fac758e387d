/*
 * The demo page of wxsub-web.js: log in with WeChat's web authorisation,
 * configure the JS-SDK, show one <wx-open-subscribe> button per one-time
 * template, report each success to wxsub and show the ledger.
 *
 * Query parameters:
 *   sim  the WeChat simulator's URL (`make run` prints it). The simulator
 *        then stands in for WeChat: its authorize page logs the browser in,
 *        and its stand-in JS-SDK checks wx.config's signature and draws the
 *        button with a simulated popup. Without it the page is what it is
 *        inside WeChat's own browser: the real authorize page and the real
 *        JS-SDK (res.wx.qq.com), where WeChat draws the button.
 *   api  wxsub's base URL; defaults to this page's origin (`make run`
 *        serves this page at /web/demo/).
 */
(function () {
  'use strict';
  var params = new URLSearchParams(location.search);
  var sim = (params.get('sim') || '').replace(/\/+$/, '');
  var api = params.get('api') || location.origin;
  var REAL_JSSDK = 'https://res.wx.qq.com/open/js/jweixin-1.6.0.js';

  function $(id) { return document.getElementById(id); }
  function state(s) { document.body.setAttribute('data-state', s); }

  if (sim) {
    $('mode').textContent = 'Simulated WeChat: the simulator at ' + sim + ' stands in for WeChat\'s authorize page ' +
      'and JS-SDK (the button and its popup are drawn by it). Inside WeChat\'s own browser, open this page ' +
      'without ?sim= and the real JS-SDK is used. / 模拟模式：授权页与 JS-SDK 由模拟器代替；在微信内打开时使用真正的 JS-SDK。';
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement('script');
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error('could not load ' + src)); };
      document.head.appendChild(s);
    });
  }

  var client = wxsubWeb.create({ api: api, authorizeBase: sim || undefined });
  var reported = 0;

  function showLedger() {
    return client.subscriptions().then(function (l) {
      $('ledger').textContent = (l.subscriptions || []).map(function (e) {
        return e.template_id + '  ' + (e.title || '') + '  status=' + e.status + '  credits=' + e.credits;
      }).join('\n');
    });
  }

  function button(t) {
    var tag = document.createElement('wx-open-subscribe');
    tag.id = 'subscribe-' + t.id;
    tag.setAttribute('template', t.id);
    var tpl = document.createElement('script');
    tpl.type = 'text/wxtag-template';
    tpl.textContent = '<style>button{font-size:16px;padding:8px 16px;margin:4px 0}</style>' +
      '<button>订阅「' + t.title.replace(/[<>&"]/g, '') + '」</button>';
    tag.appendChild(tpl);
    client.bind(tag, {
      onReport: function (answer) {
        reported++;
        document.body.setAttribute('data-reported', String(reported));
        $('status').textContent = 'Reported / 已记录: ' + JSON.stringify(answer.subscriptions);
        showLedger();
      },
      onError: function (err) {
        $('error').textContent = err.code + ': ' + err.message;
      },
    });
    var row = document.createElement('div');
    row.className = 'row';
    row.appendChild(tag);
    return row;
  }

  client.login().then(function (session) {
    $('openid').textContent = session.openid;
    return loadScript(sim ? sim + '/__sim/jweixin.js' : REAL_JSSDK);
  }).then(function () {
    return client.configure();
  }).then(function () {
    return client.templates();
  }).then(function (answer) {
    var oneTime = (answer.templates || []).filter(function (t) { return t.type === 'one_time'; });
    oneTime.forEach(function (t) {
      $('buttons').appendChild(button(t));
    });
    if (oneTime.length === 0) {
      $('status').textContent = 'No one-time template in the catalogue yet (POST /v1/templates/sync). / 模板目录为空。';
    }
    return showLedger();
  }).then(function () {
    state('ready');
  }).catch(function (err) {
    state('failed');
    $('error').textContent = (err.code || 'error') + ': ' + err.message;
  });
})();
