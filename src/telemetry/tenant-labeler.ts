/**
 * Bounds the `tenant` label of every metric family (SPEC §8): at most `maxTenants` tenants keep
 * their own label value, every other tenant is summed (or, for ratios, maxed) under `other`.
 *
 * Slots are sticky for the life of the process and first come, first kept (as OpenTelemetry's
 * cardinality limit does): a counter series must never change its label or go backwards, so a
 * tenant that has a label keeps it, and `other` only ever grows. To make "first" mean "top by
 * traffic", the composition root offers the slots to the month's busiest tenants (`rank`) before
 * any request is served; tenants new since then take what slots are left. A restart re-ranks.
 *
 * Deterministic: the same sequence of calls always yields the same labels.
 */

export const OTHER_TENANT = 'other';
export const DEFAULT_MAX_TENANTS = 50;

export class TenantLabeler {
  private readonly kept = new Set<string>();

  constructor(readonly maxTenants: number = DEFAULT_MAX_TENANTS) {
    if (!Number.isSafeInteger(maxTenants) || maxTenants < 0) throw new RangeError(`maxTenants must be a whole number >= 0, got ${maxTenants}`);
  }

  /**
   * The label value for a tenant, claiming a free slot for it if it has none yet. A tenant whose
   * id is literally "other" never gets a slot of its own: its series could not be told apart
   * from the overflow's anyway.
   */
  label(tenantId: string): string {
    if (this.kept.has(tenantId)) return tenantId;
    if (tenantId === OTHER_TENANT || this.kept.size >= this.maxTenants) return OTHER_TENANT;
    this.kept.add(tenantId);
    return tenantId;
  }

  /** Offers free slots to tenants in the order given (busiest first); never takes a slot back. */
  rank(tenantIds: Iterable<string>): void {
    for (const t of tenantIds) {
      if (this.kept.size >= this.maxTenants) return;
      this.label(t);
    }
  }

  /** Whether the tenant has its own label (claims nothing). */
  has(tenantId: string): boolean {
    return this.kept.has(tenantId);
  }

  /** Tenants that have their own label, in the order they got it. */
  keptTenants(): string[] {
    return [...this.kept];
  }
}

/**
 * Orders tenants by a weight, heaviest first, ties by tenant id: the order in which to offer
 * them slots. Pure.
 */
export function byWeightDescending(weights: ReadonlyMap<string, number | bigint>): string[] {
  return [...weights]
    .sort(([ta, wa], [tb, wb]) => (wa === wb ? (ta < tb ? -1 : ta > tb ? 1 : 0) : wb > wa ? 1 : -1))
    .map(([t]) => t);
}
