import { z } from 'zod';
import type { Store } from '../store/client.ts';

/**
 * Tenants that have usage in the hourly rollup. A tenant exists for the billing endpoints if the
 * config names it, it holds a key, or it has usage: an admin-key collector may ingest spans for
 * a tenant that is in neither, and attribution charges it a share of idle and overhead; its
 * costs and statements must then be readable, not 404. Refreshed after each rollup run, so a new
 * tenant is found within one (30 s); `has` is synchronous for the routes' access check.
 */
export class TenantsWithUsage {
  private tenants = new Set<string>();

  constructor(private readonly store: Store) {}

  has(tenantId: string): boolean {
    return this.tenants.has(tenantId);
  }

  async refresh(): Promise<void> {
    const rows = await this.store.query({ query: 'SELECT DISTINCT tenant_id FROM usage_hourly', schema: z.object({ tenant_id: z.string() }) });
    this.tenants = new Set(rows.map((r) => r.tenant_id));
  }
}
