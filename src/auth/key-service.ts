import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { Store } from '../store/client.ts';
import { digestsEqual, generateKey, hashKey, keyIdOf, keyPrefix, type Principal, type Role } from './keys.ts';

const keyRow = z.object({
  key_hash: z.string(),
  key_prefix: z.string(),
  tenant_id: z.string(),
  role: z.enum(['tenant', 'ingest']),
  created_ms: z.coerce.number(),
  revoked: z.coerce.number(),
});

/** How often an unknown key may trigger a reload (keys created on another API replica). */
const RELOAD_MIN_INTERVAL_MS = 2_000;
/**
 * Known keys are reloaded in the background this often, so a key revoked on another replica
 * stops working here within this time (at once on the replica that revoked it).
 */
export const KEY_REFRESH_MS = 30_000;

/** A key as listed: never the key itself, only what identifies it. */
export interface KeyInfo {
  /** The first 16 hex digits of the key's SHA-256: what `revoke` takes. */
  id: string;
  /** The key's first characters, as logs show them. */
  prefix: string;
  role: Exclude<Role, 'admin'>;
  created_at: string;
}

type KeyEntry = Omit<Principal, 'keyId'> & { hash: string; role: Exclude<Role, 'admin'>; tenantId: string; createdAt: string };

/** A key as another process's store knows it (see RemoteKeys). */
export interface ResolvedKey {
  tenantId: string;
  role: Exclude<Role, 'admin'>;
  keyPrefix: string;
  createdAt: string;
}

/**
 * Looks a key up by its hash where it was created: the API (`POST /v1/keys/resolve`), for a
 * standalone sidecar on its own embedded ClickHouse, which holds no key the API made. Resolves
 * undefined for a key the API does not know; rejects when it cannot say.
 */
export type RemoteKeys = (hash: string) => Promise<ResolvedKey | undefined>;

/** A key the API confirmed is trusted this long without asking again: revocations reach here within it. */
const REMOTE_FOUND_TTL_MS = KEY_REFRESH_MS;
/** A key the API did not know is not asked about again this long (a key just created works after it). */
const REMOTE_MISSING_TTL_MS = 5_000;
/** Lookups of unknown keys per second at most: random keys must not become a flood on the API. */
const REMOTE_LOOKUPS_PER_S = 20;
/** Entries kept per cache (found and missing keys): bounded whatever callers send. */
const REMOTE_CACHE_MAX = 10_000;

/**
 * Authenticates bearer keys. Keys live hashed in ClickHouse and are cached in memory by hash;
 * an unknown hash reloads the table (rate-limited) so a key made on another replica works within
 * seconds, and the cache is refreshed every KEY_REFRESH_MS so that revocations reach every
 * replica. The found entry's digest is compared again in constant time.
 */
export class KeyService {
  private byHash = new Map<string, KeyEntry>();
  private lastReload = 0;
  /** The background refresh in progress, if any (one at a time). */
  private refreshing: Promise<void> | undefined;
  /**
   * Keys this process created or revoked. A reload whose query ran before such a write must not
   * undo it: a revoked key would work again until the next refresh.
   */
  private readonly createdHere = new Map<string, KeyEntry>();
  private readonly revokedHere = new Set<string>();
  /** Keys whose revocation is being written: a second revoke of one of them is not found, as after it. */
  private readonly revoking = new Set<string>();
  /** Absent for tools that only read keys (the CLI): then no key is admin. */
  private readonly adminHash: string | undefined;
  /** Keys the remote store answered for, by hash: the key (or null, unknown there) and when. */
  private readonly remoteAnswers = new Map<string, { key: KeyEntry | null; at: number }>();
  private readonly remoteInFlight = new Map<string, Promise<KeyEntry | null>>();
  private remoteWindow = { second: 0, lookups: 0 };

  constructor(
    private readonly store: Store,
    adminKey: string | undefined,
    private readonly now: () => number = Date.now,
    /** Where keys unknown to `store` may be found (a standalone sidecar: the API). */
    private readonly remote?: RemoteKeys,
  ) {
    this.adminHash = adminKey === undefined ? undefined : hashKey(adminKey);
  }

  async load(): Promise<void> {
    const startedAt = this.now();
    const rows = await this.store.query({
      query: `SELECT key_hash, key_prefix, tenant_id, role, toString(toUnixTimestamp64Milli(created_at)) AS created_ms, revoked FROM api_keys FINAL`,
      schema: keyRow,
    });
    const next = new Map<string, KeyEntry>();
    for (const r of rows) {
      this.createdHere.delete(r.key_hash); // in the table now: the reload has it
      if (r.revoked || this.revokedHere.has(r.key_hash)) continue;
      next.set(r.key_hash, { role: r.role, tenantId: r.tenant_id, keyPrefix: r.key_prefix, hash: r.key_hash, createdAt: new Date(r.created_ms).toISOString() });
    }
    for (const [hash, entry] of this.createdHere) if (!this.revokedHere.has(hash)) next.set(hash, entry);
    this.byHash = next;
    this.lastReload = startedAt;
  }

  /**
   * Reloads in the background once the keys are KEY_REFRESH_MS old, without holding up the
   * request: a failed reload keeps the keys as they were and is tried again at the next request.
   * Resolves when that reload is done (tests wait on it).
   */
  refreshIfStale(): Promise<void> {
    if (this.refreshing || this.now() - this.lastReload < KEY_REFRESH_MS) return this.refreshing ?? Promise.resolve();
    this.refreshing = this.load()
      .catch(() => {})
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  async authenticate(key: string): Promise<Principal | undefined> {
    const hash = hashKey(key);
    if (this.adminHash && digestsEqual(hash, this.adminHash)) return { role: 'admin', keyPrefix: keyPrefix(key), keyId: keyIdOf(hash) };
    void this.refreshIfStale();
    let found = await this.held(hash);
    if (!found && this.remote) found = (await this.fromRemote(hash)) ?? undefined;
    if (!found || !digestsEqual(found.hash, hash)) return undefined;
    return { role: found.role, tenantId: found.tenantId, keyPrefix: found.keyPrefix, keyId: keyIdOf(hash) };
  }

  /**
   * A key this store does not hold, as the remote store knows it: answers are cached (found keys
   * for REMOTE_FOUND_TTL_MS, unknown ones for REMOTE_MISSING_TTL_MS), one lookup per key at a
   * time, and at most REMOTE_LOOKUPS_PER_S a second beyond that (then: a 503). While the remote
   * cannot answer, a key it confirmed before keeps working; any other key is a 503, not a 401
   * (nobody can say it is invalid).
   */
  private async fromRemote(hash: string): Promise<KeyEntry | null> {
    const now = this.now();
    const cached = this.remoteAnswers.get(hash);
    if (cached && now - cached.at < (cached.key ? REMOTE_FOUND_TTL_MS : REMOTE_MISSING_TTL_MS)) return cached.key;
    const pending = this.remoteInFlight.get(hash);
    if (pending) return pending;
    const second = Math.floor(now / 1000);
    if (this.remoteWindow.second !== second) this.remoteWindow = { second, lookups: 0 };
    if (!cached?.key && ++this.remoteWindow.lookups > REMOTE_LOOKUPS_PER_S) {
      // Not asked, so not known to be invalid: a 401 would tell a valid key's client it was revoked
      // (found by dogfooding, while the API was down and its keys were being looked up).
      throw new AppError('unavailable', 'too many unknown API keys to check at once; retry in a second', {
        code: 'key_check_unavailable',
        details: { retryAfterSeconds: 1 },
      });
    }
    const lookup = this.remote!(hash)
      .then((r) => {
        const key: KeyEntry | null = r ? { hash, role: r.role, tenantId: r.tenantId, keyPrefix: r.keyPrefix, createdAt: r.createdAt } : null;
        if (this.remoteAnswers.size >= REMOTE_CACHE_MAX) this.remoteAnswers.clear();
        this.remoteAnswers.set(hash, { key, at: this.now() });
        return key;
      })
      .catch((err: unknown) => {
        if (cached?.key) return cached.key;
        throw new AppError('unavailable', `cannot check this API key now: ${(err as Error).message}`, { code: 'key_check_unavailable', cause: err });
      })
      .finally(() => this.remoteInFlight.delete(hash));
    this.remoteInFlight.set(hash, lookup);
    return lookup;
  }

  /** The live key with this hash in this store (reloaded first when unknown), for another process's lookup. */
  async resolve(hash: string): Promise<ResolvedKey | undefined> {
    const found = await this.held(hash);
    return found && { tenantId: found.tenantId, role: found.role, keyPrefix: found.keyPrefix, createdAt: found.createdAt };
  }

  /** The key with this hash in this store; an unknown hash reloads the table first (rate-limited). */
  private async held(hash: string): Promise<KeyEntry | undefined> {
    const found = this.byHash.get(hash);
    if (found || this.now() - this.lastReload < RELOAD_MIN_INTERVAL_MS) return found;
    await this.load();
    return this.byHash.get(hash);
  }

  /** Creates a key for a tenant; the plain key is returned once and never stored. */
  async create(tenantId: string, role: Exclude<Role, 'admin'>): Promise<{ key: string; role: Role; tenant: string; id: string }> {
    const key = generateKey(role);
    const hash = hashKey(key);
    const at = new Date(this.now()).toISOString();
    await this.store.insert('api_keys', [
      { key_hash: hash, key_prefix: keyPrefix(key), tenant_id: tenantId, role, created_at: at, revoked: 0, version: at },
    ]);
    const entry: KeyEntry = { role, tenantId, keyPrefix: keyPrefix(key), hash, createdAt: at };
    this.byHash.set(hash, entry);
    this.createdHere.set(hash, entry);
    return { key, role, tenant: tenantId, id: keyIdOf(hash) };
  }

  /** The tenant's live keys, oldest first, read afresh (keys made or revoked on other replicas too). */
  async list(tenantId: string): Promise<KeyInfo[]> {
    await this.load();
    return [...this.byHash.values()]
      .filter((k) => k.tenantId === tenantId)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.hash < b.hash ? -1 : 1))
      .map((k) => ({ id: keyIdOf(k.hash), prefix: k.keyPrefix, role: k.role, created_at: k.createdAt }));
  }

  /**
   * Revokes one of the tenant's keys by id: it stops working at once here, and on other replicas
   * at their next refresh (KEY_REFRESH_MS). A key that is not the tenant's is not found, whoever
   * it belongs to.
   */
  async revoke(tenantId: string, id: string): Promise<void> {
    await this.load();
    const entry = [...this.byHash.values()].find((k) => k.tenantId === tenantId && keyIdOf(k.hash) === id);
    // A revocation already under way is this one's too: found by dogfooding, 20 DELETEs of one key
    // at once answered 17 × 204 (one revocation stored), where one after another answer 204 then 404.
    if (!entry || this.revoking.has(entry.hash)) throw new AppError('not_found', `tenant "${tenantId}" has no live key with id ${id}`, { code: 'key_not_found' });
    this.revoking.add(entry.hash);
    try {
      // The row with the latest version wins (ReplacingMergeTree): strictly after the one it replaces.
      const version = new Date(Math.max(this.now(), Date.parse(entry.createdAt) + 1)).toISOString();
      await this.store.insert('api_keys', [
        { key_hash: entry.hash, key_prefix: entry.keyPrefix, tenant_id: entry.tenantId, role: entry.role, created_at: entry.createdAt, revoked: 1, version },
      ]);
      this.revokedHere.add(entry.hash);
      this.byHash.delete(entry.hash);
    } finally {
      this.revoking.delete(entry.hash);
    }
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
