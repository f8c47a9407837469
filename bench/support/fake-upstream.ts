import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A constant OpenRouter stand-in for the gateway benchmark, run in its own process (forked by
 * gateway.bench.ts) so that it shares an event loop with neither the service nor the load
 * generator. It reads the whole request, then answers one chat completion with a usage object.
 */
export const FAKE_COMPLETION = JSON.stringify({
  id: 'gen-bench',
  object: 'chat.completion',
  model: 'openai/gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the benchmark upstream.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21, cost: 0.0000123, is_byok: false },
});

if (require.main === module) {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      if (request.method !== 'POST' || !request.url?.endsWith('/chat/completions')) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(FAKE_COMPLETION);
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
  process.on('disconnect', () => process.exit(0));
}
