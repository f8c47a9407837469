import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { IDE_CLIENT_SCRIPT, IDE_FAVICON_SVG, IDE_PAGE_CSS } from './graphql-ide.client';

/** One file of the IDE, served from memory under a name that changes whenever its content does. */
export interface IdeAsset {
  name: string;
  body: Buffer;
  contentType: string;
  /** worth gzipping (text); fonts and images are compressed already */
  compressible: boolean;
}

/** The files the page links, by role; `byName` holds them and the files their CSS refers to. */
export interface IdeAssets {
  react: IdeAsset;
  reactDom: IdeAsset;
  graphiqlScript: IdeAsset;
  graphiqlStyles: IdeAsset;
  pageStyles: IdeAsset;
  pageScript: IdeAsset;
  favicon: IdeAsset;
  byName: ReadonlyMap<string, IdeAsset>;
}

const CONTENT_TYPES: Record<string, { contentType: string; compressible: boolean }> = {
  js: { contentType: 'text/javascript; charset=utf-8', compressible: true },
  css: { contentType: 'text/css; charset=utf-8', compressible: true },
  svg: { contentType: 'image/svg+xml', compressible: true },
  woff2: { contentType: 'font/woff2', compressible: false },
  woff: { contentType: 'font/woff', compressible: false },
  png: { contentType: 'image/png', compressible: false },
};

const EXTENSION_OF_MEDIA_TYPE: Record<string, string> = { 'font/woff2': 'woff2', 'font/woff': 'woff', 'image/png': 'png', 'image/svg+xml': 'svg' };

/** `url(data:…;base64,…)` in a stylesheet: a CSP of 'self' alone refuses these, so they become files. */
const BASE64_DATA_URL = /url\((["']?)data:([a-z0-9.+/-]+);base64,([A-Za-z0-9+/=]+)\1\)/gi;

function asset(stem: string, extension: string, body: Buffer): IdeAsset {
  const type = CONTENT_TYPES[extension];
  if (!type) throw new Error(`no content type for .${extension}`);
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { name: `${stem}-${hash}.${extension}`, body, ...type };
}

/** A file of an installed npm package (read once, at start-up), whatever the package's exports map allows. */
function packageFile(packageName: string, relativePath: string): Buffer {
  return readFileSync(join(dirname(require.resolve(`${packageName}/package.json`)), relativePath));
}

/**
 * Rewrites every base64 `data:` URL in `css` to the name of an asset of its own, so the page loads
 * fonts and images from its own origin like everything else.
 */
function extractDataUrls(css: string): { css: string; files: IdeAsset[] } {
  const files: IdeAsset[] = [];
  const rewritten = css.replace(BASE64_DATA_URL, (whole, _quote: string, mediaType: string, data: string) => {
    const extension = EXTENSION_OF_MEDIA_TYPE[mediaType.toLowerCase()];
    if (!extension) return whole;
    const file = asset('embedded', extension, Buffer.from(data, 'base64'));
    files.push(file);
    return `url(${file.name})`;
  });
  return { css: rewritten, files };
}

/**
 * The IDE's files: GraphiQL's and React's browser builds from node_modules (installed by
 * `npm install`, never fetched at run time) and the page's own script and styles. Read
 * synchronously, once, at start-up.
 */
export function loadIdeAssets(): IdeAssets {
  const styles = extractDataUrls(packageFile('graphiql', 'dist/style.css').toString('utf8'));
  const react = asset('react', 'js', packageFile('react', 'umd/react.production.min.js'));
  const reactDom = asset('react-dom', 'js', packageFile('react-dom', 'umd/react-dom.production.min.js'));
  const graphiqlScript = asset('graphiql', 'js', packageFile('graphiql', 'dist/index.umd.js'));
  const graphiqlStyles = asset('graphiql', 'css', Buffer.from(styles.css, 'utf8'));
  const pageStyles = asset('page', 'css', Buffer.from(IDE_PAGE_CSS, 'utf8'));
  const pageScript = asset('ide', 'js', Buffer.from(IDE_CLIENT_SCRIPT, 'utf8'));
  const favicon = asset('favicon', 'svg', Buffer.from(IDE_FAVICON_SVG, 'utf8'));
  const all = [react, reactDom, graphiqlScript, graphiqlStyles, pageStyles, pageScript, favicon, ...styles.files];
  return { react, reactDom, graphiqlScript, graphiqlStyles, pageStyles, pageScript, favicon, byName: new Map(all.map((file) => [file.name, file])) };
}
