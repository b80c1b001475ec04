/** Drivers that time calls: one after another (latencies) or a fixed number in flight (throughput). */

/** Milliseconds of each of `n` calls, one after another, after `warmup` untimed calls. */
export async function timeSequential(n: number, warmup: number, call: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await call(i);
  const out: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call(i);
    out[i] = performance.now() - t0;
  }
  return out;
}

/** Wall milliseconds for `n` calls with `inFlight` of them running at any moment. */
export async function timeConcurrent(n: number, inFlight: number, call: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) await call(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker));
  return performance.now() - t0;
}

/** A deterministic 64-feature row batch (the bundled classifiers' input), values in [-1, 1). */
/** How long `work` takes, in ms. */
export async function timeOnce(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

export function featureRows(rows: number, seed: number): number[] {
  const data: number[] = [];
  let x = seed >>> 0 || 1;
  for (let i = 0; i < rows * 64; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data.push(((x >>> 0) % 2000) / 1000 - 1);
  }
  return data;
}

export function inferBody(data: number[], rows: number) {
  return { inputs: [{ name: 'input', shape: [rows, 64], datatype: 'FP32', data }] };
}

/**
 * POST /v2/models/{model}/infer; throws unless 200, so a refused call is never timed as a success.
 * `asTenant`: the X-Tenant-Id a trusted gateway sends with the admin key (sidecar.trust_tenant_header).
 */
export async function postInfer(baseUrl: string, key: string, model: string, body: string, asTenant?: string): Promise<void> {
  const res = await fetch(`${baseUrl}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(asTenant ? { 'x-tenant-id': asTenant } : {}) },
    body,
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`infer ${model}: HTTP ${res.status} ${text.slice(0, 200)}`);
}
