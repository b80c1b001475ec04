import { z } from 'zod';
import type { RemoteKeys, ResolvedKey } from './key-service.ts';

/**
 * The API's keys for a standalone sidecar on its own embedded ClickHouse (which holds none of
 * them): `POST /v1/keys/resolve` with the key's SHA-256, never the key, and the API's admin key.
 * 404 is "no such live key"; anything else that is not a 200 is "cannot say" (an error).
 */

const Answer = z.object({ tenant: z.string(), role: z.enum(['tenant', 'ingest']), prefix: z.string(), created_at: z.string() });

export interface RemoteKeysOptions {
  /** Base URL of the API, e.g. http://api-0:8080. */
  baseUrl: string;
  /** The API's admin key. */
  adminKey: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export function httpRemoteKeys(opts: RemoteKeysOptions): RemoteKeys {
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/v1/keys/resolve`;
  const doFetch = opts.fetch ?? fetch;
  return async (hash: string): Promise<ResolvedKey | undefined> => {
    let res: Response;
    try {
      res = await doFetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${opts.adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ key_hash: hash }),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 2000),
      });
    } catch (err) {
      throw new Error(`the API at ${url} is unreachable (${(err as Error).message})`, { cause: err });
    }
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`the API at ${url} answered ${res.status}`);
    const parsed = Answer.safeParse(await res.json().catch(() => undefined));
    if (!parsed.success) throw new Error(`the API at ${url} answered something that is not a key`);
    return { tenantId: parsed.data.tenant, role: parsed.data.role, keyPrefix: parsed.data.prefix, createdAt: parsed.data.created_at };
  };
}

/**
 * Whether the API lets this key look keys up (the admin key): null when it does, else why not;
 * 'unreachable' when it did not answer (then lookups are tried anyway, and fail until it does).
 */
export async function checkRemoteKeysAccess(opts: RemoteKeysOptions): Promise<string | null | 'unreachable'> {
  try {
    // A hash no key has: an admin gets 404 (asked and answered), anyone else 401/403.
    await httpRemoteKeys(opts)('0'.repeat(64));
    return null;
  } catch (err) {
    const message = (err as Error).message;
    if (/unreachable|answered 5\d\d/.test(message)) return 'unreachable';
    if (/answered 40[13]/.test(message)) return `${opts.baseUrl} takes only its admin key for key lookups (quotas.authority_key is not it)`;
    return message;
  }
}
