// Where the demo finds wxsub. Edit these two lines, then recompile in WeChat DevTools.
module.exports = {
  // The wxsub API: `make run` serves it here. For a deployed stack, its https URL.
  baseURL: 'http://127.0.0.1:3000',
  // The WeChat simulator that `make run` starts (WECHATSIM_ADDR). While it is set, the demo
  // gets login codes and popup answers from the simulator, so it works with any AppID
  // (even the tourist one) and with the simulator's template ids. Set it to '' to use real
  // WeChat: a real AppID whose templates wxsub has synced, and a deployed baseURL.
  simulatorURL: 'http://127.0.0.1:3001',
};
