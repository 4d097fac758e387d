// Type declarations for wxsub.js, the wxsub client for WeChat mini-programs.

/** Storage key under which the session is kept: 'wxsub.session'. */
export const SESSION_KEY: 'wxsub.session';

/** Storage key under which reports that got no answer wait: 'wxsub.pendingReports'. */
export const PENDING_KEY: 'wxsub.pendingReports';

/**
 * Default maximum template ids per subscribe() call: 3. WeChat's current
 * documentation allows 5, but older clients accept only 3 and fail the whole
 * call (errCode 20003) when given more.
 */
export const DEFAULT_MAX_TMPL_IDS: 3;

/** Options of createClient. */
export interface ClientOptions {
  /** Where the wxsub API is, e.g. 'https://api.example.com'. */
  baseURL: string;
  /** The most template ids one subscribe() may ask for (default 3). */
  maxTmplIds?: number;
  /** The WeChat API object; defaults to the global wx. */
  wx?: WxLike;
  /** Clock in epoch milliseconds; defaults to Date.now. */
  now?: () => number;
  /**
   * Your app's own login, used instead of wx.login: resolves with a wx.login
   * code for wxsub to trade, or with a wxsub session your app holds.
   */
  login?: () => Promise<string | { code: string } | Session>;
  /** Waits before retrying a report that got no answer, a 5xx or a 429 (default [500, 2000] ms). */
  reportRetryDelays?: number[];
}

/** The user's subscription settings (wx.getSetting with withSubscriptions). */
export interface SubscriptionSettings {
  /** false when the user switched the mini-program's notifications off. */
  mainSwitch: boolean;
  /** Templates whose choice the user keeps ("always keep this choice"), with that choice. */
  always: Record<string, 'accept' | 'reject' | 'ban' | string>;
}

/** The session as POST /v1/session answers it; stored under SESSION_KEY. */
export interface Session {
  token: string;
  expires_at: string | number;
  openid: string;
}

/**
 * What WeChat answered for one template in the popup. Every status that
 * starts with 'accept' is an accept: 'acceptWithAudio' (voice reminder on),
 * 'acceptWithAlert' and 'acceptWithForcePush' (strong reminders), and any
 * later variant. 'ban' means the platform banned the template. Test accepts
 * with isAccept().
 */
export type AcceptStatus = 'accept' | 'acceptWithAudio' | 'acceptWithAlert' | 'acceptWithForcePush' | `accept${string}`;
export type SubscribeStatus = AcceptStatus | 'reject' | 'ban' | 'filter';

/** Whether a status from subscribe() is an accept (any status starting with 'accept'). */
export function isAccept(status: string): status is AcceptStatus;

/** One template in subscribe()'s answer. */
export interface SubscribeItem {
  templateId: string;
  /** WeChat's answer for this tap. */
  status: SubscribeStatus;
  /** The user's remaining sends after the report; null for long-term templates. */
  credits: number | null;
}

/** subscribe()'s answer when every template was asked about. */
export type SubscribeResults = SubscribeItem[] & { mainSwitchOff?: undefined };

/** subscribe()'s answer when the user has switched notifications off (errCode 20004). */
export interface MainSwitchOff {
  mainSwitchOff: true;
  /** Opens the settings page; call it from a tap. */
  openSettings(): Promise<OpenSettingResult>;
}

/** wx.openSetting's result. */
export interface OpenSettingResult {
  errMsg?: string;
  authSetting: Record<string, boolean>;
  subscriptionsSetting?: {
    mainSwitch: boolean;
    itemSettings?: Record<string, AcceptStatus | 'reject' | 'ban'>;
  };
}

/** One template in credits()'s answer. */
export interface Credit {
  templateId: string;
  type: TemplateType;
  /** The ledger status ('accept', 'reject', 'ban', 'off'), or null if never asked. */
  status: string | null;
  /** Remaining sends; null for long-term templates. */
  credits: number | null;
  updatedAt: string | null;
}

export type TemplateType = 'one_time' | 'long_term';

/** A keyword of a template, as GET /v1/templates describes it. */
export interface Keyword {
  key: string;
  name: string;
  type: string;
  max_len?: number;
  enum?: string[];
}

/** A template, as GET /v1/templates describes it. */
export interface Template {
  id: string;
  title: string;
  type: TemplateType;
  keywords: Keyword[];
}

/**
 * What every wxsub promise rejects with. code is the server's snake_case
 * code, or one of: network_error, http_error, invalid_response, login_failed,
 * invalid_argument, too_many_templates, mixed_template_types,
 * subscribe_failed, open_setting_failed, no_wx.
 */
export interface WxsubError extends Error {
  name: 'WxsubError';
  code: string;
  /** HTTP status of a non-2xx answer. */
  statusCode?: number;
  /** WeChat's errCode (subscribe_failed, login_failed, network_error). */
  errCode?: number;
  details?: unknown[];
  wechat?: { errcode: number; errmsg: string };
  /** Set when WeChat answered but the report to wxsub failed (credits are null). */
  results?: SubscribeItem[];
  /**
   * Set when WeChat answered but the report to wxsub failed: sends the same
   * report again, with the same report_id (the tap still counts once).
   */
  retryReport?: () => Promise<SubscribeItem[]>;
  /** Set when the report got no answer and is kept for flushReports(). */
  pending?: true;
  /** Set when the main switch is off but the report to wxsub failed. */
  mainSwitchOff?: true;
  openSettings?: () => Promise<OpenSettingResult>;
}

/** A wxsub client. */
export interface Client {
  /** wx.login, then POST /v1/session; reuses the stored session until it expires unless force is set. */
  login(options?: { force?: boolean }): Promise<Session>;
  /** Call from a tap handler: asks WeChat, reports the answer, resolves with credits. */
  subscribe(tmplIds: string[]): Promise<SubscribeResults | MainSwitchOff>;
  /** wx.openSetting with subscriptions; call from a tap. */
  openSettings(): Promise<OpenSettingResult>;
  /** GET /v1/subscriptions: every template with this user's status and credits. */
  credits(): Promise<Credit[]>;
  /** GET /v1/templates: the app's templates. */
  templates(): Promise<Template[]>;
  /** wx.getSetting with subscriptions: the main switch and the "always" choices. */
  subscriptionSettings(): Promise<SubscriptionSettings>;
  /** Sends the reports kept after getting no answer; resolves with how many are still unsent. */
  flushReports(): Promise<number>;
}

/** Creates a wxsub client. */
export function createClient(options: ClientOptions): Client;

/** The part of the wx API that wxsub uses. */
export interface WxLike {
  login(options: { success(res: { code: string; errMsg?: string }): void; fail(res: { errMsg: string; errCode?: number }): void }): void;
  request(options: {
    url: string;
    method: string;
    header: Record<string, string>;
    dataType: 'json';
    data?: unknown;
    success(res: { statusCode: number; data: any }): void;
    fail(res: { errMsg: string; errCode?: number }): void;
  }): void;
  requestSubscribeMessage(options: {
    tmplIds: string[];
    success(res: Record<string, string>): void;
    fail(res: { errMsg: string; errCode?: number }): void;
  }): void;
  openSetting(options: {
    withSubscriptions: boolean;
    success(res: OpenSettingResult): void;
    fail(res: { errMsg: string; errCode?: number }): void;
  }): void;
  getSetting?(options: {
    withSubscriptions: boolean;
    success(res: { subscriptionsSetting?: { mainSwitch?: boolean; itemSettings?: Record<string, string> } }): void;
    fail(res: { errMsg: string; errCode?: number }): void;
  }): void;
  getStorageSync(key: string): any;
  setStorageSync(key: string, value: unknown): void;
  removeStorageSync(key: string): void;
}
