import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { IdeAsset, IdeAssets, loadIdeAssets } from './graphql-ide.assets';

/** Where the page's files live; the page links them relatively, so it works at `/graphql` and `/`. */
export const IDE_ASSET_PREFIX = '/graphql-ide/';

/**
 * Only this origin, for everything: no CDN, font service or telemetry can be reached even if a
 * dependency tried, and no inline script or style runs.
 */
export const IDE_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const gzipAsync = promisify(gzip);

/** The media types a GraphQL client may ask for: a GET preferring HTML over all of them is a browser. */
const GRAPHQL_MEDIA_TYPES = ['application/json', 'application/graphql-response+json', 'multipart/mixed'];

interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

function mediaRangesOf(accept: string): MediaRange[] {
  return accept.split(',').flatMap((part) => {
    const [range = '', ...parameters] = part.split(';').map((piece) => piece.trim().toLowerCase());
    const [type, subtype] = range.split('/');
    if (!type || !subtype) return [];
    const qParameter = parameters.find((parameter) => parameter.startsWith('q='));
    const q = qParameter === undefined ? 1 : Number(qParameter.slice(2));
    return Number.isFinite(q) ? [{ type, subtype, q }] : [];
  });
}

/** The quality the client gives `mediaType`: that of the most specific range matching it, 0 if none. */
function qualityOf(ranges: MediaRange[], mediaType: string): number {
  const [type, subtype] = mediaType.split('/');
  const exact = ranges.find((range) => range.type === type && range.subtype === subtype);
  if (exact) return exact.q;
  const sameType = ranges.find((range) => range.type === type && range.subtype === '*');
  if (sameType) return sameType.q;
  return ranges.find((range) => range.type === '*' && range.subtype === '*')?.q ?? 0;
}

/**
 * A GET whose Accept header ranks HTML above every GraphQL response type, as Apollo Server decides
 * for its landing page: a browser's `text/html,…,*\/*;q=0.8` yes; `*\/*` or `application/json` no.
 */
export function prefersHtml(request: IncomingMessage): boolean {
  const accept = request.headers.accept;
  if (request.method !== 'GET' || !accept) return false;
  const ranges = mediaRangesOf(accept);
  const html = qualityOf(ranges, 'text/html');
  return html > 0 && GRAPHQL_MEDIA_TYPES.every((mediaType) => qualityOf(ranges, mediaType) < html);
}

function acceptsGzip(request: IncomingMessage): boolean {
  const encodings = request.headers['accept-encoding'];
  return typeof encodings === 'string' && /(^|,)\s*gzip\s*(,|$)/i.test(encodings);
}

function pageHtml(assets: IdeAssets): string {
  const href = (file: IdeAsset) => `${IDE_ASSET_PREFIX.slice(1)}${file.name}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphQL IDE</title>
<link rel="icon" type="image/svg+xml" href="${href(assets.favicon)}">
<link rel="stylesheet" href="${href(assets.graphiqlStyles)}">
<link rel="stylesheet" href="${href(assets.pageStyles)}">
</head>
<body>
<form id="auth-form" class="ide-auth" autocomplete="off">
<label for="auth-token">Authorization</label>
<input id="auth-token" type="password" placeholder="Bearer eyJ… (paste a token)" spellcheck="false">
<button type="submit">Use token</button>
<button type="button" id="auth-forget" hidden>Forget token</button>
<span id="auth-state" class="ide-auth-state" role="status"></span>
</form>
<div id="graphiql"></div>
<noscript>The GraphQL IDE needs JavaScript. Clients POST to this URL with content-type application/json.</noscript>
<script src="${href(assets.react)}"></script>
<script src="${href(assets.reactDom)}"></script>
<script src="${href(assets.graphiqlScript)}"></script>
<script src="${href(assets.pageScript)}"></script>
</body>
</html>
`;
}

/**
 * The in-browser GraphQL IDE (GraphiQL) that `GET /graphql` shows a browser, served entirely by
 * this service: its files are read from node_modules once at start-up and kept in memory.
 */
export class GraphqlIde {
  private readonly page: Buffer;
  private readonly gzipped = new Map<string, Promise<Buffer>>();

  constructor(private readonly assets: IdeAssets = loadIdeAssets()) {
    this.page = Buffer.from(pageHtml(assets), 'utf8');
  }

  servePage(response: ServerResponse): void {
    response
      .writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': this.page.length,
        'content-security-policy': IDE_CONTENT_SECURITY_POLICY,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      })
      .end(this.page);
  }

  /** Answers a GET or HEAD of one of the page's files and returns true; false when `pathname` names none. */
  async serveAsset(pathname: string, request: IncomingMessage, response: ServerResponse): Promise<boolean> {
    if (!pathname.startsWith(IDE_ASSET_PREFIX) || (request.method !== 'GET' && request.method !== 'HEAD')) return false;
    const file = this.assets.byName.get(pathname.slice(IDE_ASSET_PREFIX.length));
    if (!file) return false;
    const compressed = file.compressible && acceptsGzip(request);
    const body = compressed ? await this.gzippedBody(file) : file.body;
    response.writeHead(200, {
      'content-type': file.contentType,
      'content-length': body.length,
      // The name changes with the content, so a browser may keep a file for good.
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
      ...(file.compressible ? { vary: 'accept-encoding' } : {}),
      ...(compressed ? { 'content-encoding': 'gzip' } : {}),
    });
    response.end(request.method === 'HEAD' ? undefined : body);
    return true;
  }

  /** Compressed on first request, off the event loop, and kept: a megabyte of script becomes ~300 KB. */
  private gzippedBody(file: IdeAsset): Promise<Buffer> {
    let pending = this.gzipped.get(file.name);
    if (!pending) {
      pending = gzipAsync(file.body);
      this.gzipped.set(file.name, pending);
    }
    return pending;
  }
}
