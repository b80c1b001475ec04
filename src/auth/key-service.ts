import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { Store } from '../store/client.ts';
import { digestsEqual, generateKey, hashKey, keyPrefix, type Principal, type Role } from './keys.ts';

const keyRow = z.object({
  key_hash: z.string(),
  key_prefix: z.string(),
  tenant_id: z.string(),
  role: z.enum(['tenant', 'ingest']),
  revoked: z.coerce.number(),
});

/** How often an unknown key may trigger a reload (keys created on another API replica). */
const RELOAD_MIN_INTERVAL_MS = 2_000;

/**
 * Authenticates bearer keys. Keys live hashed in ClickHouse and are cached in memory by hash;
 * an unknown hash reloads the table (rate-limited) so a key made on another replica works within
 * seconds. The found entry's digest is compared again in constant time.
 */
export class KeyService {
  private byHash = new Map<string, Principal & { hash: string }>();
  private lastReload = 0;
  /** Absent for tools that only read keys (the CLI): then no key is admin. */
  private readonly adminHash: string | undefined;

  constructor(
    private readonly store: Store,
    adminKey: string | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.adminHash = adminKey === undefined ? undefined : hashKey(adminKey);
  }

  async load(): Promise<void> {
    const rows = await this.store.query({
      query: 'SELECT key_hash, key_prefix, tenant_id, role, revoked FROM api_keys FINAL',
      schema: keyRow,
    });
    const next = new Map<string, Principal & { hash: string }>();
    for (const r of rows) {
      if (r.revoked) continue;
      next.set(r.key_hash, { role: r.role, tenantId: r.tenant_id, keyPrefix: r.key_prefix, hash: r.key_hash });
    }
    this.byHash = next;
    this.lastReload = this.now();
  }

  async authenticate(key: string): Promise<Principal | undefined> {
    const hash = hashKey(key);
    if (this.adminHash && digestsEqual(hash, this.adminHash)) return { role: 'admin', keyPrefix: keyPrefix(key) };
    let found = this.byHash.get(hash);
    if (!found && this.now() - this.lastReload >= RELOAD_MIN_INTERVAL_MS) {
      await this.load();
      found = this.byHash.get(hash);
    }
    if (!found || !digestsEqual(found.hash, hash)) return undefined;
    return { role: found.role, tenantId: found.tenantId, keyPrefix: found.keyPrefix };
  }

  /** Creates a key for a tenant; the plain key is returned once and never stored. */
  async create(tenantId: string, role: Exclude<Role, 'admin'>): Promise<{ key: string; role: Role; tenant: string }> {
    const key = generateKey(role);
    const hash = hashKey(key);
    const at = new Date(this.now()).toISOString();
    await this.store.insert('api_keys', [
      { key_hash: hash, key_prefix: keyPrefix(key), tenant_id: tenantId, role, created_at: at, revoked: 0, version: at },
    ]);
    this.byHash.set(hash, { role, tenantId, keyPrefix: keyPrefix(key), hash });
    return { key, role, tenant: tenantId };
  }

  /** Tenants that hold at least one live key. */
  tenantsWithKeys(): Set<string> {
    const out = new Set<string>();
    for (const p of this.byHash.values()) if (p.tenantId) out.add(p.tenantId);
    return out;
  }
}

/**
 * Admins see every existing tenant; a tenant key sees only its own tenant. Another tenant's data
 * does not exist as far as the caller can tell: the answer is the same 404 as for a tenant that
 * really does not exist, never a 403 that would confirm it.
 */
export function requireTenantAccess(principal: Principal, tenantId: string, tenantExists: (t: string) => boolean): void {
  const allowed = principal.role === 'admin' ? tenantExists(tenantId) : principal.role === 'tenant' && principal.tenantId === tenantId;
  if (!allowed) throw new AppError('not_found', `tenant "${tenantId}" not found`, { code: 'tenant_not_found' });
}
