import { pricingKeyOf, type CostContext, type DaySource, type KeptDays } from '../attribution/cost-service.ts';
import { createAttributionCache } from '../attribution/day-cache.ts';
import { decodeDay, DAY_FORMAT_VERSION, encodeDay } from '../attribution/day-codec.ts';
import { createPersistedDays, type DayCodec, type PersistedDays } from '../attribution/persisted-days.ts';
import type { KeyService } from '../auth/key-service.ts';
import type { DayCosts } from '../jobs/anomaly-scan.ts';
import { DAY_COSTS_FORMAT_VERSION, decodeDayCosts, encodeDayCosts } from '../jobs/day-costs-codec.ts';
import type { Config } from '../config/schema.ts';
import type { ProcessKind } from '../main.ts';
import { createQuotaAuthority, type LocalQuotaAuthority } from '../quotas/authority.ts';
import type { QuotaLimits } from '../quotas/config.ts';
import { createFailoverQuotaAuthority, type FailoverMember, type TakeoverAuthority } from '../quotas/failover-authority.ts';
import { checkAuthorityKey, createHttpQuotaAuthority } from '../quotas/http-authority.ts';
import { createCarriedUsageReader } from '../quotas/carried-usage.ts';
import { createMonthlyUsageReader } from '../quotas/monthly-usage.ts';
import type { FocusContext } from '../statements/render.ts';
import type { Store } from '../store/client.ts';
import type { KeptDaysMetrics } from '../telemetry/kept-days-metrics.ts';
import type { QuotaSource } from './sidecar.ts';
import { ConfigError } from '../config/load.ts';

/** Part of the composition root (src/main.ts): billing contexts and the quota authority. */

/**
 * The cost, statement and FOCUS contexts of the API, from config. Priced days are kept in
 * ClickHouse (`attribution_days`) for other replicas and the next start; `log` hears when that
 * table cannot be read or written (the days are then priced from the rollups, as without it), and
 * `metrics` counts where each day came from and those problems.
 */
export function billingServices(config: Readonly<Config>, store: Store, opts: KeptDaysReporting = {}) {
  const plan = (tenantId: string) => planOf(config, tenantId);
  const costs: CostContext = { store, pricing: config.pricing, planOf: plan, now: Date.now, cache: createAttributionCache() };
  const codec = { encode: encodeDay, decode: decodeDay };
  costs.kept = keptDaysOf(config, costs, persistedDays(store, 'attribution', DAY_FORMAT_VERSION, codec, opts), opts.metrics);
  return {
    costs,
    statements: statementsContext(config, store),
    focus: (tenantId: string): FocusContext => ({
      providerName: config.billing.provider_name,
      publisherName: config.billing.provider_name,
      invoiceIssuerName: config.billing.invoice_issuer_name,
      billingAccountId: tenantId,
      billingAccountName: tenantId,
      serviceName: config.billing.service_name,
      serviceCategory: 'AI and Machine Learning',
    }),
  };
}

/** The statement service's context from config (the quota authority reads month-to-date usage through it). */
export function statementsContext(config: Readonly<Config>, store: Store) {
  return { store, pricing: config.pricing, planOf: (tenantId: string) => planOf(config, tenantId), closeGraceHours: config.billing.close_grace_hours, now: Date.now };
}

/** Who hears about kept days: problems as log lines, and every day's source and problem as metrics. */
export interface KeptDaysReporting {
  log?: (line: string) => void;
  metrics?: KeptDaysMetrics;
}

/** Kept days of `kind` for the prices and plans of `costs`, keyed by their content (see `KeptDays`). */
export function keptDaysOf<T>(config: Readonly<Config>, costs: Pick<CostContext, 'pricing' | 'planOf'>, days: PersistedDays<T>, metrics?: KeptDaysMetrics): KeptDays<T> {
  const plans = Object.fromEntries(Object.keys(config.tenants).map((tenantId) => [tenantId, costs.planOf(tenantId)]));
  const observe = metrics && ((source: DaySource, count: number) => metrics.days(days.kind, source, count));
  return { days, pricing: costs.pricing, planOf: costs.planOf, key: pricingKeyOf(costs.pricing, plans), observe };
}

/** The anomaly scan's past days' hourly costs, kept in ClickHouse like the attribution days. */
export function keptAnomalyCosts(config: Readonly<Config>, costs: CostContext, opts: KeptDaysReporting = {}): KeptDays<DayCosts> {
  const codec = { encode: encodeDayCosts, decode: decodeDayCosts };
  return keptDaysOf(config, costs, persistedDays(costs.store, 'anomaly-costs', DAY_COSTS_FORMAT_VERSION, codec, opts), opts.metrics);
}

function persistedDays<T>(store: Store, kind: string, version: number, codec: DayCodec<T>, opts: KeptDaysReporting): PersistedDays<T> {
  return createPersistedDays({
    store,
    kind,
    version,
    codec,
    onProblem: (line, problem) => {
      opts.log?.(line);
      opts.metrics?.problem(kind, problem);
    },
  });
}

/**
 * The in-memory quota authority, in every process that does not lease from another one: `up`,
 * an `api` without quotas.authority_url (the authority), a sidecar without it. An `api` replica
 * with quotas.authority_url forwards quota calls there instead (see quotaSourceOf), so N API
 * replicas behind a load balancer still count each tenant once. A standalone sidecar without
 * quotas.authority_url enforces its quotas alone: exact for one replica, N x L for N replicas,
 * hence the warning.
 */
export function localQuotaAuthority(config: Readonly<Config>, kind: ProcessKind, store: Store, keys: KeyService, log: (line: string) => void): LocalQuotaAuthority | undefined {
  if (kind !== 'up' && config.quotas.authority_url) {
    // Found by dogfooding: limits in a sidecar's own config looked enforced and were not.
    if (kind === 'sidecar' && hasQuotas(config)) log(`quotas: limits are the authority's (${config.quotas.authority_url}); the quotas in this sidecar's config are not used`);
    return undefined;
  }
  if (kind === 'sidecar' && hasQuotas(config)) log('quotas: no quotas.authority_url: this sidecar enforces quotas on its own (per replica, not global)');
  return newQuotaAuthority(config, kind, store, keys);
}

/** A quota authority with empty counters, which reads back from ClickHouse what it does not know. */
export function newQuotaAuthority(config: Readonly<Config>, kind: ProcessKind, store: Store, keys: KeyService): LocalQuotaAuthority {
  return createQuotaAuthority({
    limitsOf: (tenantId) => quotaLimitsOf(config, tenantId),
    now: Date.now,
    leaseTtlS: config.quotas.lease_ttl_s,
    readMonthlyUsage: createMonthlyUsageReader({
      store,
      statements: statementsContext(config, store),
      knownTenants: () => [...Object.keys(config.tenants), ...keys.tenantsWithKeys()],
    }),
    // A standalone sidecar counts only its own admissions; the recorded requests are the fleet's.
    readCarriedUsage: kind === 'sidecar' ? undefined : createCarriedUsageReader(store),
  });
}

/**
 * Where the sidecar leases and an API replica forwards quota calls: this process's own
 * authority, else the API at quotas.authority_url.
 * Without quotas.authority_key it presents its own admin key (the same INFERLEDGER_ADMIN_KEY on
 * the API and the sidecars works).
 */
export function quotaSourceOf(
  config: Readonly<Config>,
  local: LocalQuotaAuthority | undefined,
  adminKey: string,
  opts: { takeover?: TakeoverAuthority; log?: (line: string) => void } = {},
): QuotaSource {
  if (local) return { authority: local, inProcess: true };
  const key = config.quotas.authority_key ?? adminKey;
  const primary = config.quotas.authority_url!;
  const remote = (url: string): FailoverMember => ({ name: url, authority: createHttpQuotaAuthority({ baseUrl: url, key }) });
  // A standby stands in itself; everyone else tries the listed standbys in order.
  const members = [remote(primary), ...(opts.takeover ? [{ name: 'this instance (standby)', authority: opts.takeover }] : config.quotas.standby_authority_urls.map(remote))];
  if (members.length === 1) return { authority: members[0]!.authority, inProcess: false };
  const authority = createFailoverQuotaAuthority(members, {
    onSwitch: (to, from) => {
      if (from !== undefined) opts.log?.(`quota authority: now ${to} (was ${from})`);
      if (to === primary) opts.takeover?.standDown();
    },
  });
  return { authority, inProcess: false, standbyInUse: () => authority.standbyInUse(), recheckPrimary: () => authority.recheckPrimary() };
}

/**
 * At start, the remote authorities must accept this process's key: a 401/403/404 is a
 * configuration error (ConfigError, the process does not start), not an outage for fail_mode to
 * paper over. An authority that does not answer yet is only logged: fail_mode is for that.
 */
export async function checkQuotaAuthorities(config: Readonly<Config>, adminKey: string, log: (line: string) => void): Promise<void> {
  const key = config.quotas.authority_key ?? adminKey;
  if (key.startsWith('il_ingest_')) {
    // Found by dogfooding: leases for any other tenant came back 404 tenant_not_found (the key
    // sees only its own tenant), logged as an unreachable authority, and fail_mode applied.
    log(`note: quotas.authority_key is a tenant's ingest key: it leases for that tenant only; requests of any other tenant this process serves are refused (503 quota_authority_refused), as their spans would be by the API. Use the API's admin key for a sidecar that serves several tenants`);
  }
  const urls = [config.quotas.authority_url, ...(config.quotas.standby ? [] : config.quotas.standby_authority_urls)].filter((u): u is string => u !== undefined);
  const problems: string[] = [];
  const silent: string[] = [];
  for (const url of urls) {
    const problem = await checkAuthorityKey(url, key);
    if (problem === 'unreachable') silent.push(url);
    else if (problem) problems.push(`quotas: ${problem}`);
  }
  if (problems.length) throw new ConfigError(problems);
  // fail_mode applies only when no authority answers (found by dogfooding: a standby not started
  // yet was logged as "fail_mode applies" while the primary was answering).
  if (silent.length === urls.length && urls.length > 0) {
    log(`quota ${urls.length > 1 ? 'authorities' : 'authority'} ${silent.join(', ')}: not answering yet (fail_mode ${config.quotas.fail_mode} applies until one does)`);
  } else {
    for (const url of silent) log(`quota authority ${url}: not answering yet (the others answer; it is used when they do not)`);
  }
}

/** A tenant's own quota limits replace the defaults as a whole (config: `tenants.<id>.quotas`). */
export function quotaLimitsOf(config: Readonly<Config>, tenantId: string): QuotaLimits {
  return config.tenants[tenantId]?.quotas ?? config.quotas.defaults;
}

function hasQuotas(config: Readonly<Config>): boolean {
  const any = (l: QuotaLimits | undefined) => l !== undefined && Object.values(l).some((v) => v !== undefined);
  return any(config.quotas.defaults) || Object.values(config.tenants).some((t) => any(t.quotas));
}

export function planOf(config: Readonly<Config>, tenantId: string): string {
  return config.tenants[tenantId]?.plan ?? config.pricing.default_plan;
}

