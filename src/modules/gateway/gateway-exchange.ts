import type { Logger } from 'pino';
import type { AppError } from '../../errors/app-error';
import type { InferencePath } from '../usage/usage.enums';
import type { ModelTier } from '../workspace/workspace.enums';
import type { UpstreamEndpoint } from './openrouter.client';

/** A gateway call as the HTTP adapter read it: headers checked, body parsed. */
export interface GatewayRequest {
  endpoint: UpstreamEndpoint;
  /** the X-Request-Id, when the caller gave one: it may have been used, and a retry may come */
  givenRequestId: string | undefined;
  /** the idempotency key: the given X-Request-Id, else the request's log id */
  requestId: string;
  workspaceId: string;
  path: InferencePath;
  /** X-Model-Tier; absent, the workspace's default */
  tier: ModelTier | undefined;
  actorUserId: string | null;
  /** the request body, a JSON object with a string `model` */
  payload: Record<string, unknown>;
  /** sha256 of the raw body: only a retry of the same call gets its answer again */
  bodyHash: string;
}

/** A call arriving, before the gateway decides to take it: it is read only once the worker may serve it. */
export interface IncomingCall {
  /** X-Inference-Path as sent, for the metrics (which count anything unknown as INVALID) */
  pathLabel: string;
  log: () => Logger;
  /** throws UNAUTHENTICATED unless the caller holds the service token */
  authenticate(): void;
  /** the headers and body, checked: throws BAD_REQUEST */
  read(): Promise<GatewayRequest>;
}

/** The answer to a gateway call, as the gateway writes it; the HTTP adapter puts it on the wire. */
export interface GatewayResponse {
  /** sent with whatever answer goes out */
  setHeader(name: string, value: string): void;
  /** the status line and headers of a relayed or kept answer; once */
  start(status: number, headers: Record<string, string>): void;
  readonly started: boolean;
  write(chunk: Buffer): void;
  end(body?: Buffer | string): void;
  /** answers with one of the gateway's errors instead; an answer already started is cut */
  fail(error: AppError, headers?: Record<string, string>): void;
  /** ends a started answer early: what was written goes out, then the connection is cut so the caller knows it is incomplete */
  cut(): void;
  /** `complete`: the whole answer went out before the connection closed */
  onClose(listener: (complete: boolean) => void): void;
}
