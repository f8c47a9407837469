import 'reflect-metadata';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { Arg, buildSchema, Field, ID, ObjectType, Query, Resolver } from 'type-graphql';
import { DEFAULT_HTTP_LIMITS } from '../src/config/http-limits';
import type { GraphQLContext } from '../src/graphql/context';
import { DateTimeScalar, SafeIntScalar } from '../src/graphql/scalars';
import { graphqlHandler } from '../src/http/graphql-handler';
import { LargeBodySlots } from '../src/http/large-body-slots';
import { requestTargetOf } from '../src/http/request-target';
import { KeyStatus } from '../src/modules/inference-key/inference-key.enums';

/**
 * The framework ceiling for the status query: type-graphql + @apollo/server behind the same
 * node:http plumbing as the service (src/http/graphql-handler.ts), answering an AiInferenceKey-shaped
 * object from constants. No database, no authentication, no graphql-armor: only what any
 * type-graphql service pays for the same query.
 */

@ObjectType('BareAiInferenceKey')
class BareAiInferenceKey {
  @Field(() => ID) workspaceId: string;
  @Field() configured: boolean;
  @Field(() => String, { nullable: true }) maskedHint: string | null;
  @Field() eligible: boolean;
  @Field() canManage: boolean;
  @Field(() => Date, { nullable: true }) updatedAt: Date | null;
  @Field(() => ID, { nullable: true }) updatedBy: string | null;
  @Field(() => KeyStatus, { nullable: true }) status: KeyStatus | null;
  @Field(() => SafeIntScalar, { nullable: true }) limitMicros: number | null;
  @Field(() => SafeIntScalar, { nullable: true }) limitRemainingMicros: number | null;
  @Field(() => Boolean, { nullable: true }) isFreeTier: boolean | null;
  @Field(() => Date, { nullable: true }) lastCheckedAt: Date | null;
}

const UPDATED_AT = new Date('2025-01-01T00:00:00.000Z');

@Resolver()
class BareResolver {
  @Query(() => BareAiInferenceKey)
  aiInferenceKey(@Arg('workspaceId', () => ID) workspaceId: string): BareAiInferenceKey {
    return Object.assign(new BareAiInferenceKey(), {
      workspaceId,
      configured: true,
      maskedHint: 'sk-or-v1…cdef',
      eligible: true,
      canManage: false,
      updatedAt: UPDATED_AT,
      updatedBy: 'bench-owner',
      status: KeyStatus.UNVERIFIED,
      limitMicros: null,
      limitRemainingMicros: null,
      isFreeTier: null,
      lastCheckedAt: null,
    });
  }
}

export interface RunningBareServer {
  url: string;
  stop(): Promise<void>;
}

export async function startBareServer(host = '127.0.0.1'): Promise<RunningBareServer> {
  const schema = await buildSchema({ resolvers: [BareResolver], scalarsMap: [{ type: Date, scalar: DateTimeScalar }], validate: false });
  const apollo = new ApolloServer({
    schema,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    plugins: [ApolloServerPluginCacheControlDisabled()],
  });
  await apollo.start();
  // The handler is typed for the service's context; this server's resolvers read no context at all.
  const largeBodies = new LargeBodySlots({ smallBodyBytes: DEFAULT_HTTP_LIMITS.anonymousBodyBytes, slotBytes: DEFAULT_HTTP_LIMITS.authenticatedBodyBytes, budgetBytes: DEFAULT_HTTP_LIMITS.graphqlBodyBytesInFlight });
  const handler = graphqlHandler(apollo as unknown as ApolloServer<GraphQLContext>, largeBodies);
  const bounds = { maxBodyBytes: DEFAULT_HTTP_LIMITS.authenticatedBodyBytes, jsonMaxDepth: DEFAULT_HTTP_LIMITS.jsonMaxDepth };
  const server: Server = createServer((request, response) => {
    const target = requestTargetOf(request.url);
    if (target?.pathname !== '/graphql') {
      response.writeHead(404).end();
      return;
    }
    handler(request, response, target, bounds, async () => ({}) as GraphQLContext).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await apollo.stop();
    },
  };
}

/**
 * A node:http server answering every request with the same small JSON body: no GraphQL at all.
 * Measured beside the others as a calibration of the machine (compare with MEASURED.md's ceiling).
 */
export async function startNodeHttpServer(host = '127.0.0.1'): Promise<RunningBareServer> {
  const body = JSON.stringify({ data: { ok: true } });
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end(body));
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
