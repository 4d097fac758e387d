#!/usr/bin/env node
/**
 * Drives wxsub.js against `make run` from a terminal, as a mini-program
 * would: log in, read the catalogue, tap "allow" for the first one-time
 * template twice, read the credits left.
 *
 *   node miniprogram/node/tour.js [API URL] [simulator URL]
 *
 * (defaults: http://127.0.0.1:3000 and http://127.0.0.1:3001, or WXSUB_URL
 * and WXSUB_SIM_URL).
 */
'use strict';

const { createClient } = require('../wxsub.js');
const { createNodeWx } = require('./wx.js');

async function main() {
  const api = process.argv[2] || process.env.WXSUB_URL || 'http://127.0.0.1:3000';
  const simulatorURL = process.argv[3] || process.env.WXSUB_SIM_URL || 'http://127.0.0.1:3001';
  const wx = createNodeWx({ simulatorURL, answer: 'accept' });
  const client = createClient({ baseURL: api, wx });

  const session = await client.login();
  console.log('logged in as ' + session.openid);
  const templates = await client.templates();
  for (const t of templates) {
    console.log('template ' + t.id + '  ' + t.title + '  (' + t.type + ')');
  }
  const oneTime = templates.find((t) => t.type === 'one_time');
  if (!oneTime) {
    throw new Error('no one-time template in the catalogue');
  }
  for (let i = 0; i < 2; i++) {
    const res = await client.subscribe([oneTime.id]);
    console.log('tapped allow for ' + oneTime.title + ': ' + res[0].status + ', ' + res[0].credits + ' left');
  }
  const credits = await client.credits();
  const row = credits.find((c) => c.templateId === oneTime.id);
  console.log('credits for ' + oneTime.title + ': ' + row.credits);
}

main().catch((err) => {
  console.error('tour failed: ' + (err.code ? err.code + ': ' : '') + err.message);
  process.exit(1);
});
