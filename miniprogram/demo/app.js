// The demo app: one wxsub client for every page, reached with getApp().wxsub.
const config = require('./config.js');
const { createClient } = require('./wxsub.js');
const { createSimWx } = require('./simwx.js');

// With a simulator URL, login codes and popup answers come from `make run`'s WeChat simulator.
const simWx = config.simulatorURL ? createSimWx({ simulatorURL: config.simulatorURL, wx: wx }) : null;

App({
  config: config,
  simWx: simWx,
  wxsub: createClient({ baseURL: config.baseURL, wx: simWx || wx }),
});
