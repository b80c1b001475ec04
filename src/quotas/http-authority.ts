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
