import type { Store } from '../../store/client.ts';
import type { Alert, AlertFilter, AlertRepository, Transition } from '../types.ts';
import { activeAlertsQuery, alertFromRow, alertRow, alertToRow, listAlertsQuery, transitionToRow } from './alert-queries.ts';

/** The ClickHouse adapter of AlertRepository. */
export function createAlertStore(store: Store): AlertRepository {
  return {
    async loadActive({ resolvedSince }) {
      const rows = await store.query({ ...activeAlertsQuery(resolvedSince), schema: alertRow });
      return rows.map(alertFromRow);
    },
    /**
     * Transitions first: if the episode write then fails, the next run recomputes the
     * transitions, and those of the same episode collapse with the rows already written (same
     * sort key). The reverse order could lose a transition from the history for good; this order
     * at worst leaves the event of a quota episode that a re-run opened again at a later `now`.
     */
    async save(changed: readonly Alert[], transitions: readonly Transition[]) {
      await store.insert('alert_events', transitions.map(transitionToRow));
      await store.insert('alerts', changed.map(alertToRow));
    },
    async list(filter: AlertFilter) {
      const rows = await store.query({ ...listAlertsQuery(filter), schema: alertRow });
      return rows.map(alertFromRow);
    },
  };
}
