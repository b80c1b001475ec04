import { tenantIdSchema } from '../../config/schema.ts';
import { ATTR } from '../../telemetry/attributes.ts';
import { stringAttribute } from './any-value.ts';
import type { KeyValue } from './model.ts';

/** Who sent an OTLP request: an ingest key (one tenant) or the admin key (any tenant). */
export type OtlpSender = { role: 'ingest'; tenantId: string } | { role: 'admin' };

export type TenantDecision = { ok: true; tenantId: string } | { ok: false; reason: string; missing?: true };

/**
 * Whose data a span (or a resource's data points) is. The tenant may be named by `tenant.id` on
 * the resource, on the span, or both (they must agree).
 * 1. A named tenant must be a string and a valid tenant id.
 * 2. An ingest key writes for its own tenant only: unnamed data becomes its tenant's, data naming
 *    another tenant is refused (never written, never re-labelled).
 * 3. The admin key writes for any tenant but must name it.
 */
export function decideTenant(sender: OtlpSender, resourceAttrs: readonly KeyValue[], ownAttrs: readonly KeyValue[] = []): TenantDecision {
  const onResource = stringAttribute(resourceAttrs, ATTR.tenantId);
  const onItem = stringAttribute(ownAttrs, ATTR.tenantId);
  for (const claim of [onResource, onItem]) {
    if (claim.present && claim.value === undefined) return { ok: false, reason: `${ATTR.tenantId} must be a string` };
  }
  if (onResource.value !== undefined && onItem.value !== undefined && onResource.value !== onItem.value) {
    return { ok: false, reason: `resource and span name different tenants in ${ATTR.tenantId}` };
  }
  const named = onItem.value ?? onResource.value;
  if (named !== undefined && !tenantIdSchema.safeParse(named).success) {
    return { ok: false, reason: `invalid ${ATTR.tenantId} ${JSON.stringify(named.slice(0, 80))}` };
  }
  if (sender.role === 'ingest') {
    if (named !== undefined && named !== sender.tenantId) return { ok: false, reason: `${ATTR.tenantId} names a tenant other than this key's` };
    return { ok: true, tenantId: sender.tenantId };
  }
  if (named === undefined) return { ok: false, reason: `missing ${ATTR.tenantId} (the admin key must name the tenant of all data)`, missing: true };
  return { ok: true, tenantId: named };
}

/** Counts rejections by reason, for the partial-success message. */
export class Rejections {
  private readonly reasons = new Map<string, number>();
  total = 0;
  onlyMissingTenant = true;

  add(reason: string, count = 1, missingTenant = false): void {
    if (count <= 0) return;
    this.total += count;
    if (!missingTenant) this.onlyMissingTenant = false;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + count);
  }

  message(noun: string): string {
    if (this.total === 0) return '';
    const parts = [...this.reasons].map(([reason, n]) => `${reason} (${n})`);
    return `${this.total} ${noun} rejected: ${parts.join('; ')}`;
  }
}
