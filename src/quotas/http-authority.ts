import type { z } from 'zod';
import type { LeaseGrant, LeaseRequest, MonthlyBlock, QuotaAuthority, QuotaStatus, ReleaseRequest } from './types.ts';
import {
  blocksFromJson,
  leaseGrantFromJson,
  LeaseGrantBody,
  leaseRequestToJson,
  MonthlyBlocksBody,
  QuotasBody,
  releaseRequestToJson,
  statusFromJson,
} from './wire.ts';

/**
 * The quota authority over HTTP: what a standalone `inferledger sidecar` uses to lease from the
 * API named by `quotas.authority_url`. Every call has a deadline, so an authority that hangs
 * becomes an error (and the sidecar's fail mode decides) instead of a stuck request.
 */

export interface HttpAuthorityOptions {
  /** Base URL of the API instance serving as authority, e.g. http://api-0:8080. */
  baseUrl: string;
  /** Admin key, or an ingest key (which may lease for its own tenant only). */
  key: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** The authority answered with something other than success, or not at all. */
export class QuotaAuthorityError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'QuotaAuthorityError';
  }
}

const DEFAULT_TIMEOUT_MS = 2000;

export function createHttpQuotaAuthority(opts: HttpAuthorityOptions): QuotaAuthority {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  async function call<T>(method: 'GET' | 'POST', path: string, body: unknown, schema: z.ZodType<T> | undefined): Promise<T | undefined> {
    let res: Response;
    try {
      res = await doFetch(base + path, {
        method,
        headers: { authorization: `Bearer ${opts.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new QuotaAuthorityError(`quota authority ${base} unreachable: ${(err as Error).message}`, undefined, { cause: err });
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) throw new QuotaAuthorityError(`quota authority ${method} ${path}: ${res.status} ${text.slice(0, 200)}`, res.status);
    if (!schema) return undefined;
    const parsed = schema.safeParse(parseJson(text));
    if (!parsed.success) throw new QuotaAuthorityError(`quota authority ${method} ${path}: unexpected answer: ${parsed.error.message}`, res.status);
    return parsed.data;
  }

  return {
    async lease(req: LeaseRequest): Promise<LeaseGrant> {
      const json = await call('POST', '/v1/quota/leases', leaseRequestToJson(req), LeaseGrantBody);
      return leaseGrantFromJson(json!);
    },
    async release(req: ReleaseRequest): Promise<void> {
      await call('POST', '/v1/quota/releases', releaseRequestToJson(req), undefined);
    },
    async monthlyBlocks(tenantId: string): Promise<MonthlyBlock[]> {
      const json = await call('GET', `/v1/quota/blocks/${encodeURIComponent(tenantId)}`, undefined, MonthlyBlocksBody);
      return blocksFromJson(json!);
    },
    async status(tenantId: string): Promise<QuotaStatus[]> {
      const json = await call('GET', `/v1/tenants/${encodeURIComponent(tenantId)}/quotas`, undefined, QuotasBody);
      return json!.quotas.map((q) => statusFromJson(tenantId, q));
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined; // fails the schema check, with the status in the message
  }
}

/**
 * Whether `key` is accepted by the authority at `baseUrl`, asked once at start: a wrong key or
 * URL would otherwise look like an unreachable authority for ever, and under fail_mode open
 * silently turn global quotas off. A blocks read for a tenant that does not exist passes
 * authentication first: 404 tenant_not_found means the key is good (an ingest key meets it for
 * any other tenant), 401/403 that it is not, any other 404 that the URL is no inferledger API.
 * Returns the problem as a sentence, 'unreachable' when nobody answered (the fail mode's case),
 * or undefined when all is well.
 */
export async function checkAuthorityKey(baseUrl: string, key: string, fetchFn: typeof fetch = fetch): Promise<string | 'unreachable' | undefined> {
  const url = `${baseUrl.replace(/\/+$/, '')}/v1/quota/blocks/inferledger-key-check`;
  let res: Response;
  try {
    res = await fetchFn(url, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(DEFAULT_TIMEOUT_MS) });
  } catch {
    return 'unreachable';
  }
  const text = await res.text().catch(() => '');
  if (res.ok) return undefined;
  const code = (parseJson(text) as { error?: { code?: string } } | undefined)?.error?.code;
  if (res.status === 404 && code === 'tenant_not_found') return undefined;
  if (res.status >= 500) return 'unreachable';
  if (res.status === 401 || res.status === 403) {
    return `the quota authority ${baseUrl} refused this process's key (${res.status} ${code ?? ''}): set quotas.authority_key to an admin key of that API (or the ingest key of the one tenant this sidecar serves)`;
  }
  return `${baseUrl} does not answer as an inferledger API (${res.status} ${code ?? text.slice(0, 80)} for GET /v1/quota/blocks/…): check quotas.authority_url (the API's base URL, e.g. http://api:8080)`;
}
