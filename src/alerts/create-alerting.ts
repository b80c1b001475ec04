import { join } from 'node:path';
import type { Store } from '../store/client.ts';
import { createAlertingService, type Alerting, type AlertingPorts } from './alerting.ts';
import type { AlertsConfig } from './config.ts';
import { createAlertmanagerDestination } from './delivery/alertmanager.ts';
import type { Destination } from './delivery/destination.ts';
import { diskOutbox } from './delivery/outbox.ts';
import { alertmanagerOutboxDir, prepareOutboxDirs, webhookOutboxDir } from './delivery/outbox-dirs.ts';
import { DEFAULT_RETRY_POLICY, type FetchFn, type RetryPolicy } from './delivery/http-post.ts';
import { createWebhookDestination } from './delivery/webhook.ts';
import { createAlertStore } from './store/alert-store.ts';
import type { AnomalyFinding } from './types.ts';

export interface CreateAlertingOptions {
  store: Store;
  config: Readonly<AlertsConfig>;
  quotaAuthority: AlertingPorts['quotaAuthority'];
  tenants: () => Iterable<string>;
  now: () => number;
  log: (line: string) => void;
  /** HTTP client of the destinations (default: global fetch). */
  fetch?: FetchFn;
  /** The current anomaly findings (e.g. the scanner of jobs/anomaly-scan.ts); see AlertingPorts.anomalyFindings. */
  anomalyFindings?: () => Promise<readonly AnomalyFinding[]>;
  /** Base URL of this API, for Alertmanager's generatorURL. */
  publicUrl?: string;
  /** Backoff and timeout of deliveries (tests shorten them); the retry count is config.max_retries. */
  retry?: Partial<Omit<RetryPolicy, 'maxRetries'>>;
  /**
   * Notifications not yet delivered (webhooks), and alerts whose firing has not reached
   * Alertmanager, are kept under `<dataDir>/alert-outbox/` (survive a crash); in memory without it.
   */
  dataDir?: string;
}

/**
 * Wires the alerting service to its adapters: ClickHouse for state, one destination per
 * configured webhook and the Alertmanager when configured. Called by the composition root.
 */
export function createAlerting(opts: CreateAlertingOptions): Alerting {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...opts.retry, maxRetries: opts.config.max_retries };
  const common = { fetch: opts.fetch ?? fetch, policy, now: opts.now, log: opts.log };
  const outboxRoot = opts.dataDir === undefined ? undefined : join(opts.dataDir, 'alert-outbox');
  if (outboxRoot !== undefined) prepareOutboxDirs(outboxRoot, opts.config.webhooks, opts.log, opts.config.alertmanager);
  const destinations: Destination[] = opts.config.webhooks.map((w) =>
    createWebhookDestination(w, {
      ...common,
      // One folder per webhook (URL and tenants): see webhookOutboxDir.
      outbox: outboxRoot === undefined ? undefined : diskOutbox(webhookOutboxDir(outboxRoot, w), opts.log),
    }),
  );
  if (opts.config.alertmanager) {
    destinations.push(
      createAlertmanagerDestination(
        { url: opts.config.alertmanager.url, resendS: opts.config.alertmanager.resend_s },
        {
          ...common,
          publicUrl: opts.publicUrl,
          outbox: outboxRoot === undefined ? undefined : diskOutbox(alertmanagerOutboxDir(outboxRoot), opts.log),
        },
      ),
    );
  }
  return createAlertingService({
    repository: createAlertStore(opts.store),
    destinations,
    quotaAuthority: opts.quotaAuthority,
    tenants: opts.tenants,
    anomalyFindings: opts.anomalyFindings,
    config: opts.config,
    // Alertmanager forgets an alert 4 × resend_s after its last re-send: re-send well within that.
    deliveryEveryS: Math.min(5, Math.max(1, Math.floor((opts.config.alertmanager?.resend_s ?? 5) / 2))),
    now: opts.now,
    log: opts.log,
  });
}
