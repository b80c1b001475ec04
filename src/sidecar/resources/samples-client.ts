import { AppError } from '../../errors.ts';
import { isSampleTable, type SampleTable } from '../../ingest/resource-samples.ts';
import { primaryOrSpool, type RowSink } from '../../ingest/row-sink.ts';
import type { Spool } from '../../ingest/spool.ts';

/**
 * Sends a standalone sidecar's resource samples to the API (`POST /v1/resource-samples`, admin
 * key) when it exports its spans by OTLP: its own embedded ClickHouse is read by no API, and
 * without its capacity the costs of every tenant it served would be missing that capacity.
 * The API it leases quotas from (`quotas.authority_url`, `quotas.authority_key`) is the API.
 */

export interface SamplesClientOptions {
  /** Base URL of the API, e.g. http://api-0:8080. */
  baseUrl: string;
  /** The admin key (the endpoint takes no other: capacity is shared by every tenant). */
  key: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** The API refused the rows themselves (400): sending them again cannot succeed. */
export class SamplesRefusedError extends Error {
  override readonly name = 'SamplesRefusedError';
}

export interface SamplesClient {
  readonly url: string;
  send(table: SampleTable, rows: readonly object[]): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 5000;

export function createSamplesClient(opts: SamplesClientOptions): SamplesClient {
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/v1/resource-samples`;
  const doFetch = opts.fetch ?? fetch;
  return {
    url,
    async send(table, rows) {
      if (rows.length === 0) return;
      let res: Response;
      try {
        res = await doFetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${opts.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ [table]: rows }),
          signal: AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
        });
      } catch (err) {
        throw new AppError('unavailable', `resource samples: ${url} unreachable: ${(err as Error).message}`, { cause: err });
      }
      if (res.ok) return;
      const text = (await res.text().catch(() => '')).slice(0, 300);
      const message = `resource samples: ${url} answered ${res.status}${text ? `: ${text}` : ''}`;
      if (res.status === 400) throw new SamplesRefusedError(message);
      throw new AppError('unavailable', message);
    },
  };
}

/**
 * The sidecar's sample sink with the API as destination: send; when that fails for any reason
 * (down, a refusal), fsync the rows to the disk spool, whose drain job sends them again (and sets
 * aside a batch the API keeps refusing, as it does with ClickHouse refusals).
 */
export function samplesOrSpool(client: SamplesClient, spool: Pick<Spool, 'append'>, onError: (err: unknown) => void = () => {}): RowSink {
  return primaryOrSpool(
    async (table, rows) => {
      if (!isSampleTable(table)) throw new Error(`samplesOrSpool: ${table} is not a resource-sample table`);
      await client.send(table, rows);
    },
    spool,
    onError,
    'send',
  );
}
