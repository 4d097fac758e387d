// The demo page: every template with the user's remaining credits, a "notify me"
// button per template, and a log of what happened after each tap.
const app = getApp();

/** One line for an error from wxsub. */
function describe(err) {
  const code = err.errCode !== undefined ? err.code + ' ' + err.errCode : err.code || 'error';
  return code + ': ' + err.message;
}

/** What a row says about the user's standing with a template. */
function standing(type, credit) {
  const status = credit && credit.status ? credit.status : 'never asked';
  if (type === 'long_term') {
    return '长期 long-term · ' + status;
  }
  const n = credit && typeof credit.credits === 'number' ? credit.credits : 0;
  return '一次性 one-time · ' + n + ' left 剩余 · ' + status;
}

Page({
  data: {
    baseURL: app.config.baseURL,
    simulated: Boolean(app.simWx),
    mainSwitch: true,
    switchedOff: false,
    rows: [],
    log: [],
  },

  onLoad() {
    this.refresh();
  },

  onPullDownRefresh() {
    this.refresh().then(() => wx.stopPullDownRefresh());
  },

  /** Loads the templates and the user's credits (this also logs in). */
  refresh() {
    return Promise.all([app.wxsub.templates(), app.wxsub.credits()])
      .then(([templates, credits]) => {
        const byId = {};
        credits.forEach((c) => { byId[c.templateId] = c; });
        this.setData({
          rows: templates.map((t) => ({ id: t.id, title: t.title, detail: standing(t.type, byId[t.id]) })),
        });
      })
      .catch((err) => this.note('load failed — ' + describe(err)));
  },

  /** "Notify me": must call subscribe straight from the tap. */
  onNotify(e) {
    const id = e.currentTarget.dataset.id;
    const title = e.currentTarget.dataset.title;
    app.wxsub.subscribe([id])
      .then((res) => {
        if (res.mainSwitchOff) {
          this.setData({ switchedOff: true });
          this.note(title + ': notifications are off for this mini-program. Tap "Open settings", switch subscription messages on, then tap "Notify me" again. '
            + '本小程序的订阅消息已关闭：请点"打开设置"，打开订阅消息开关，再点一次"通知我"。');
          return;
        }
        res.forEach((r) => {
          const credits = r.credits === null ? '' : ', ' + r.credits + ' left 剩余';
          this.note(title + ': ' + r.status + credits);
        });
        return this.refresh();
      })
      .catch((err) => {
        (err.results || []).forEach((r) => this.note(title + ': ' + r.status + ' (not recorded)'));
        this.note(title + ' — ' + describe(err));
      });
  },

  /** "Open settings": wx.openSetting, which WeChat allows only from a tap. */
  onOpenSettings() {
    app.wxsub.openSettings()
      .then((res) => {
        const on = !res.subscriptionsSetting || res.subscriptionsSetting.mainSwitch !== false;
        this.setData({ switchedOff: !on, mainSwitch: on });
        this.note(on ? 'notifications are on again 通知已开启' : 'notifications are still off 通知仍关闭');
      })
      .catch((err) => this.note(describe(err)));
  },

  /** The simulator's main switch (only shown with a simulator). */
  onMainSwitch(e) {
    app.simWx.setMainSwitch(e.detail.value);
    this.setData({ mainSwitch: e.detail.value });
  },

  /** Adds a line to the top of the log. */
  note(text) {
    const time = new Date().toTimeString().slice(0, 8);
    const n = this.data.log.length ? this.data.log[0].n + 1 : 1;
    this.setData({ log: [{ n: n, text: time + '  ' + text }].concat(this.data.log).slice(0, 30) });
  },
});
