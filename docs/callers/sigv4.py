"""Sign a request to a wxsub stack's server routes with AWS Signature
Version 4 (service execute-api), with nothing but the standard library."""
import datetime
import hashlib
import hmac
import urllib.parse


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign_request(method, url, region, access_key, secret_key, session_token=None,
                 headers=None, body=b"", now=None):
    """Returns the headers to send: yours, X-Amz-Date, the token, Authorization."""
    u = urllib.parse.urlsplit(url)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {"host": u.netloc, "x-amz-date": amz_date}
    for k, v in (headers or {}).items():
        signed[k.lower()] = " ".join(str(v).split())
    if session_token:
        signed["x-amz-security-token"] = session_token
    names = sorted(signed)
    enc = lambda s: urllib.parse.quote(s, safe="-_.~")
    query = "&".join(f"{k}={v}" for k, v in sorted(
        (enc(k), enc(v)) for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True)))
    canonical = "\n".join([method, u.path or "/", query,
                           "".join(f"{n}:{signed[n]}\n" for n in names),
                           ";".join(names), _sha256(body)])
    scope = f"{day}/{region}/execute-api/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, _sha256(canonical.encode())])
    key = _hmac(("AWS4" + secret_key).encode(), day)
    for part in (region, "execute-api", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                               f"SignedHeaders={';'.join(names)}, Signature={signature}")
    del signed["host"]  # the HTTP client sets it
    return signed
