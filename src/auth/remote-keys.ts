import { z } from 'zod';
import type { RemoteKeys, ResolvedKey } from './key-service.ts';

/**
 * The API's keys for a standalone sidecar on its own embedded ClickHouse (which holds none of
 * them): `POST /v1/keys/resolve` with the key's SHA-256, never the key, and the API's admin key.
 * 404 `key_not_found` is "no such live key"; anything else that is not a 200 is "cannot say" (an error).
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

/** The API did not answer a key lookup (status absent: unreachable), or answered something unexpected. */
export class RemoteKeysError extends Error {
  override readonly name = 'RemoteKeysError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
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
      throw new RemoteKeysError(`the API at ${url} is unreachable (${(err as Error).message})`, undefined, { cause: err });
    }
    const body: unknown = await res.json().catch(() => undefined);
    if (res.status === 404) {
      // "No such live key" says so; any other 404 is a server without this endpoint.
      if ((body as { error?: { code?: string } } | undefined)?.error?.code === 'key_not_found') return undefined;
      throw new RemoteKeysError(`${url} is not there (404): quotas.authority_url must be an inferledger API (\`up\` or \`api\`)`, 404);
    }
    if (!res.ok) throw new RemoteKeysError(`the API at ${url} answered ${res.status}`, res.status);
    const parsed = Answer.safeParse(body);
    if (!parsed.success) throw new RemoteKeysError(`the API at ${url} answered something that is not a key`, res.status);
    return { tenantId: parsed.data.tenant, role: parsed.data.role, keyPrefix: parsed.data.prefix, createdAt: parsed.data.created_at };
  };
}

/**
 * Whether the API takes this key as its admin key (what key lookups and resource samples both
 * need): null when it does, else why not; 'unreachable' when it did not answer (then the sidecar
 * uses the API anyway, and waits for it). One round trip at start for both.
 */
export async function checkAdminAccess(opts: RemoteKeysOptions): Promise<string | null | 'unreachable'> {
  try {
    // A hash no key has: the admin gets 404 (asked and answered), anyone else 401/403.
    await httpRemoteKeys(opts)('0'.repeat(64));
    return null;
  } catch (err) {
    const status = err instanceof RemoteKeysError ? err.status : undefined;
    if (status === undefined || status >= 500) return 'unreachable';
    if (status === 401 || status === 403) return `${opts.baseUrl} does not take quotas.authority_key as its admin key (${status})`;
    return (err as Error).message;
  }
}
