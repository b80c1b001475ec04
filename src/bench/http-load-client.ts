/**
 * The flood suite's load, as a child process of its own (`node bin/run-ts.js
 * src/bench/http-load-client.ts '<json plan>'`): its event loop and CPU are not the server's, so
 * the server's CPU per request and the light tenant's latency are the server's alone.
 *
 * Plan: clients, each a tenant key posting one body to one model with `inFlight` requests
 * outstanding, never pausing (a refused client retries at once: the worst case, a client that
 * ignores Retry-After). A client with `count` stops after that many requests; one without runs
 * until every counted client is done. Prints one JSON line: per client, served and refused counts
 * and the served requests' latencies.
 */
import { z } from 'zod';

const Plan = z.object({
  baseUrl: z.string().url(),
  clients: z
    .array(
      z.object({
        name: z.string().min(1),
        key: z.string().min(1),
        model: z.string().min(1),
        body: z.string(),
        inFlight: z.number().int().positive(),
        count: z.number().int().positive().optional(),
      }),
    )
    .min(1),
});
type Plan = z.infer<typeof Plan>;

export interface ClientResult {
  requests: number;
  served: number;
  /** Non-200 answers by status. */
  refused: Record<string, number>;
  /** Served requests only, in completion order. */
  latenciesMs: number[];
  wallMs: number;
}

async function run(plan: Plan): Promise<Record<string, ClientResult>> {
  let countedLeft = plan.clients.filter((c) => c.count !== undefined).length;
  if (countedLeft === 0) throw new Error('at least one client needs a count, or the load never ends');
  const results: Record<string, ClientResult> = {};
  await Promise.all(
    plan.clients.map(async (client) => {
      const result: ClientResult = { requests: 0, served: 0, refused: {}, latenciesMs: [], wallMs: 0 };
      results[client.name] = result;
      const url = `${plan.baseUrl}/v2/models/${client.model}/infer`;
      const headers = { authorization: `Bearer ${client.key}`, 'content-type': 'application/json' };
      let issued = 0;
      const more = () => (client.count === undefined ? countedLeft > 0 : issued < client.count);
      const t0 = performance.now();
      const worker = async () => {
        while (more()) {
          issued++;
          const start = performance.now();
          const res = await fetch(url, { method: 'POST', headers, body: client.body });
          await res.arrayBuffer();
          result.requests++;
          if (res.status === 200) {
            result.served++;
            result.latenciesMs.push(performance.now() - start);
          } else {
            result.refused[res.status] = (result.refused[res.status] ?? 0) + 1;
          }
        }
      };
      await Promise.all(Array.from({ length: client.inFlight }, worker));
      result.wallMs = performance.now() - t0;
      if (client.count !== undefined) countedLeft--;
    }),
  );
  return results;
}

const plan = Plan.parse(JSON.parse(process.argv[2] ?? ''));
process.stdout.write(`${JSON.stringify(await run(plan))}\n`);
