/** A request target in origin form (`/path?query`), split without decoding or URL parsing. */
export interface RequestTarget {
  /** the path exactly as sent, never decoded: routes compare it byte for byte */
  pathname: string;
  /** `?…` or '' */
  search: string;
}

/**
 * The path and query of `GET /graphql?x HTTP/1.1`. WHATWG URL parsing of request targets is where
 * `//x:99999/…` and `%zz` used to throw; nothing here can. Anything but origin form (absolute form
 * `http://host/…`, authority form, `*`) is undefined: the caller answers 400.
 */
export function requestTargetOf(raw: string | undefined): RequestTarget | undefined {
  if (raw === undefined || !raw.startsWith('/')) return undefined;
  const query = raw.indexOf('?');
  const beforeFragment = raw.indexOf('#');
  const end = beforeFragment === -1 ? raw.length : beforeFragment;
  if (query === -1 || query > end) return { pathname: raw.slice(0, end), search: '' };
  return { pathname: raw.slice(0, query), search: raw.slice(query, end) };
}
