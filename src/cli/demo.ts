import type { Platform } from '../main.ts';
import { AppError } from '../errors.ts';

/** Demo tenants: who uses which bundled model, and how much. */
export const DEMO_TENANTS = [
  { tenant: 'acme', traffic: [{ model: 'classifier-small', requests: 20 }, { model: 'classifier-large', requests: 5 }] },
  { tenant: 'globex', traffic: [{ model: 'classifier-small', requests: 8 }, { model: 'classifier-large', requests: 12 }] },
] as const;

/** A deterministic 64-feature input batch, so demo traffic is the same on every machine. */
export function demoInput(batch: number, seed: number) {
  const data: number[] = [];
  let x = seed >>> 0 || 1;
  for (let i = 0; i < batch * 64; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data.push(((x >>> 0) % 2000) / 1000 - 1);
  }
  return { inputs: [{ name: 'input', shape: [batch, 64], datatype: 'FP32', data }] };
}

/**
 * Creates keys for the demo tenants the first time (printed once, like the admin key) and returns
 * the keys created now. Tenants that already hold keys are left alone.
 */
export async function seedDemoTenants(platform: Platform): Promise<Array<{ tenant: string; key: string }>> {
  const existing = platform.keys.tenantsWithKeys();
  const created: Array<{ tenant: string; key: string }> = [];
  for (const { tenant } of DEMO_TENANTS) {
    if (existing.has(tenant)) continue;
    const { key } = await platform.keys.create(tenant, 'tenant');
    created.push({ tenant, key });
  }
  return created;
}

/** Real inferences through the sidecar service (spans, CPU attribution and all), not fake rows. */
/**
 * Real requests for the demo tenants. A tenant the config does not let use a model, or one over a
 * quota, is skipped with a note (`onSkip`) instead of stopping `up --demo`: found by dogfooding,
 * a config limiting a demo tenant's models made the whole process exit at start.
 */
export async function driveDemoTraffic(platform: Platform, scale = 1, onSkip: (note: string) => void = () => {}): Promise<number> {
  const inference = platform.inference;
  if (!inference) return 0;
  let sent = 0;
  for (const { tenant, traffic } of DEMO_TENANTS) {
    for (const { model, requests } of traffic) {
      const n = Math.max(1, Math.round(requests * scale));
      for (let i = 0; i < n; i++) {
        try {
          await inference.infer(tenant, model, demoInput(1 + (i % 4), sent + 1));
        } catch (err) {
          if (!(err instanceof AppError) || err.kind === 'internal') throw err;
          onSkip(`demo traffic: ${tenant} → ${model} skipped (${err.code}: ${err.message})`);
          break;
        }
        sent++;
      }
    }
  }
  await platform.flushTelemetry();
  return sent;
}
