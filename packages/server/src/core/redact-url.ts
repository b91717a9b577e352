/**
 * A URL fit for logs and messages: its password, if any, replaced by `***`. URLs the WHATWG parser
 * refuses but services accept (a Redis Cluster's `redis+cluster://user:pass@h1:1,h2:2`) are redacted
 * by their text.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return redactByText(url);
  }
}

function redactByText(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(url);
  if (!m) return '(unparseable URL)';
  const [, scheme, authority, rest] = m;
  const at = authority.lastIndexOf('@');
  const colon = authority.indexOf(':');
  if (at < 0 || colon < 0 || colon > at) return url;
  return `${scheme}${authority.slice(0, colon)}:***${authority.slice(at)}${rest}`;
}
