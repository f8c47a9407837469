import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AuthContext } from '../../auth/auth-context';
import { AppError, badUserInput } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-code';
import { csvHeader, csvLine, jsonLine, UsageExportFormat, UsageExportRow, UsageExportService } from './usage-export.service';
import type { CorsPolicy } from '../../http/cors.policy';
import type { RequestTarget } from '../../http/request-target';

export const USAGE_EXPORT_PATH = '/v1/exports/usage';

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
};

const MAX_WORKSPACE_ID_LENGTH = 64;

const CONTENT_TYPES: Record<UsageExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  jsonl: 'application/x-ndjson; charset=utf-8',
};

function sendError(response: ServerResponse, status: number, code: string, message: string): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ error: { code, message } }));
}

interface ExportRequest {
  workspaceId: string;
  month: string;
  format: UsageExportFormat;
}

/** The query string, checked; messages name the parameter and what it takes, never echo its value. */
function exportRequestOrThrow(query: URLSearchParams): ExportRequest {
  const single = (name: string): string | undefined => {
    const values = query.getAll(name);
    if (values.length > 1) throw badUserInput(`${name} must be given once`);
    return values[0];
  };
  const workspaceId = single('workspaceId');
  if (!workspaceId || workspaceId.length > MAX_WORKSPACE_ID_LENGTH) throw badUserInput(`workspaceId is required: a workspace id of at most ${MAX_WORKSPACE_ID_LENGTH} characters`);
  const month = single('month');
  if (month === undefined) throw badUserInput('month is required: YYYY-MM, e.g. 2026-11');
  const format = single('format') ?? 'csv';
  if (format !== 'csv' && format !== 'jsonl') throw badUserInput('format must be csv or jsonl');
  return { workspaceId, month, format };
}

/**
 * `GET /v1/exports/usage?workspaceId=&month=YYYY-MM&format=csv|jsonl`: a month of calls, one row
 * per call, for those who read usage (Manage billing holders, platform admins, the workspace's
 * partner tokens), with /graphql's CORS policy. Streamed a page at a time and only as fast as the
 * client reads (backpressure), so a month of millions of calls holds one page in memory.
 */
export class UsageExportHandler {
  constructor(
    private readonly exports: UsageExportService,
    private readonly cors: CorsPolicy,
    private readonly authenticate: (request: IncomingMessage) => Promise<AuthContext>,
  ) {}

  async handle(request: IncomingMessage, response: ServerResponse, target: RequestTarget, log: () => Logger): Promise<void> {
    if (this.cors.apply(request, response) === 'preflight-answered') return;
    if (request.method !== 'GET') {
      response.setHeader('allow', 'GET');
      return sendError(response, 405, 'METHOD_NOT_ALLOWED', 'use GET');
    }
    let pages: AsyncGenerator<UsageExportRow[]>;
    let first: IteratorResult<UsageExportRow[]>;
    let exportRequest: ExportRequest;
    let auth: AuthContext;
    try {
      auth = await this.authenticate(request);
      if (auth.principal.kind === 'anonymous' || auth.principal.kind === 'invalid') {
        return sendError(response, 401, ErrorCode.UNAUTHENTICATED, auth.principal.kind === 'invalid' ? 'Invalid or expired credentials' : 'Authentication required');
      }
      exportRequest = exportRequestOrThrow(new URLSearchParams(target.search));
      await auth.authorize('read', 'Usage', exportRequest.workspaceId);
      pages = this.exports.pages(exportRequest.workspaceId, exportRequest.month);
      // The first page is read before the status is sent, so a refused month or a database that
      // does not answer still gets a proper error status.
      first = await pages.next();
    } catch (error) {
      const status = error instanceof AppError ? STATUS_BY_CODE[error.code] : undefined;
      if (error instanceof AppError && status !== undefined) return sendError(response, status, error.code, error.message);
      throw error;
    }
    // A long download is not a slow request: only the client's pace bounds it.
    request.socket.setTimeout(0);
    const { workspaceId, month, format } = exportRequest;
    response.writeHead(200, {
      'content-type': CONTENT_TYPES[format],
      'content-disposition': `attachment; filename="usage-${encodeURIComponent(workspaceId)}-${month}.${format}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    const line = format === 'csv' ? csvLine : jsonLine;
    const platformAdmin = auth.isPlatformAdmin;
    try {
      if (format === 'csv' && !(await this.write(response, csvHeader()))) return;
      for (let page = first; !page.done; page = await pages.next()) {
        let chunk = '';
        for (const row of page.value) chunk += line(row, platformAdmin);
        if (!(await this.write(response, chunk))) return;
      }
      response.end();
    } catch (error) {
      // Headers are gone: cutting the connection is the only way to tell the client the file is incomplete.
      log().error({ err: { name: (error as Error)?.name, message: (error as Error)?.message } }, 'usage export failed mid-stream');
      response.destroy();
    } finally {
      await pages.return(undefined);
    }
  }

  /**
   * Writes and waits while the client's buffer is full; false once the client has gone. Both
   * listeners go when either fires: a download waits thousands of times.
   */
  private write(response: ServerResponse, chunk: string): Promise<boolean> | boolean {
    if (response.destroyed) return false;
    if (response.write(chunk)) return true;
    return new Promise((resolveWrite) => {
      const done = () => {
        response.off('drain', done);
        response.off('close', done);
        resolveWrite(!response.destroyed && response.writable);
      };
      response.on('drain', done);
      response.on('close', done);
    });
  }
}
