// Sign a request to a wxsub stack's server routes with AWS Signature
// Version 4 (service execute-api), with nothing but node:crypto.
import { createHash, createHmac } from 'node:crypto';

const sha256 = (data) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data, 'utf8').digest();
// RFC 3986 encoding, as SigV4 wants it.
const encode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

export function signRequest({ method, url, headers = {}, body = '', region, credentials, date = new Date() }) {
  const u = new URL(url);
  const amzDate = date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''); // 20261201T160000Z
  const day = amzDate.slice(0, 8);
  const signed = { host: u.host, 'x-amz-date': amzDate };
  for (const [k, v] of Object.entries(headers)) signed[k.toLowerCase()] = String(v).trim().replace(/\s+/g, ' ');
  if (credentials.sessionToken) signed['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(signed).sort();
  const query = [...u.searchParams].map(([k, v]) => [encode(k), encode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const canonical = [method, u.pathname, query, names.map((n) => `${n}:${signed[n]}\n`).join(''),
    names.join(';'), sha256(body)].join('\n');
  const scope = `${day}/${region}/execute-api/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  let key = hmac('AWS4' + credentials.secretAccessKey, day);
  for (const part of [region, 'execute-api', 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
  signed.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${names.join(';')}, Signature=${signature}`;
  delete signed.host; // fetch sets it
  return signed;
}
