import { describe, expect, it } from 'vitest';
import { createSamplesClient, samplesOrSpool, SamplesRefusedError } from './samples-client.ts';

/** A fetch that answers every request with `status` (or fails to connect) and records the calls. */
function fakeFetch(status: number | 'down', body = '') {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fn = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    if (status === 'down') throw new TypeError('fetch failed');
    return new Response(body, { status });
  }) as unknown as typeof fetch;
  return { fn, calls };
}

const ROW = { instance_id: 'i-1', ts: '2026-11-29 08:00:10.000' };

describe('samples client', () => {
  it('posts the rows under their table name, with the key, to /v1/resource-samples', async () => {
    const f = fakeFetch(200);
    const client = createSamplesClient({ baseUrl: 'http://api:8080/', key: 'il_admin_k', fetch: f.fn });
    await client.send('gpu_samples', [ROW]);
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]!.url).toBe('http://api:8080/v1/resource-samples');
    expect(JSON.parse(String(f.calls[0]!.init.body))).toEqual({ gpu_samples: [ROW] });
    expect((f.calls[0]!.init.headers as Record<string, string>).authorization).toBe('Bearer il_admin_k');
    await client.send('gpu_samples', []);
    expect(f.calls).toHaveLength(1);
  });

  it('a 400 is a refusal of the rows (the spool sets such a batch aside); anything else is "unavailable"', async () => {
    await expect(createSamplesClient({ baseUrl: 'http://api', key: 'k', fetch: fakeFetch(400, '{"error":{}}').fn }).send('resource_samples', [ROW])).rejects.toBeInstanceOf(SamplesRefusedError);
    for (const status of [503, 'down'] as const) {
      const err = await createSamplesClient({ baseUrl: 'http://api', key: 'k', fetch: fakeFetch(status).fn }).send('resource_samples', [ROW]).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(SamplesRefusedError);
      expect((err as Error).message).toMatch(/resource samples: http:\/\/api\/v1\/resource-samples/);
    }
  });

  it('samplesOrSpool: rows the API does not take are fsynced to the spool, never dropped', async () => {
    const spooled: Array<[string, readonly object[]]> = [];
    const errors: unknown[] = [];
    const sink = samplesOrSpool(createSamplesClient({ baseUrl: 'http://api', key: 'k', fetch: fakeFetch('down').fn }), { append: (t, rows) => void spooled.push([t, rows]) }, (e) => errors.push(e));
    await sink.write('resource_samples', [ROW]);
    expect(spooled).toEqual([['resource_samples', [ROW]]]);
    expect(errors).toHaveLength(1);
    const ok = samplesOrSpool(createSamplesClient({ baseUrl: 'http://api', key: 'k', fetch: fakeFetch(200).fn }), { append: () => void spooled.push(['never', []]) });
    await ok.write('resource_samples', [ROW]);
    expect(spooled).toHaveLength(1);
  });

  it('samplesOrSpool fails only when the spool fails too', async () => {
    const sink = samplesOrSpool(createSamplesClient({ baseUrl: 'http://api', key: 'k', fetch: fakeFetch(503).fn }), {
      append: () => {
        throw new Error('disk full');
      },
    });
    await expect(sink.write('resource_samples', [ROW])).rejects.toThrow(/could not send or spool 1 rows for resource_samples: disk full/);
  });
});
