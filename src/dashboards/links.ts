import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';

/** Stable dashboard uids: links, bookmarks and provisioning depend on them, never change one. */
export const BOARD_UIDS = {
  fleet: 'inferledger-fleet',
  tenant: 'inferledger-tenant',
  billing: 'inferledger-billing',
  capacity: 'inferledger-capacity',
  quotas: 'inferledger-quotas',
} as const;
export type BoardKey = keyof typeof BOARD_UIDS;

export const BOARD_TITLES: Record<BoardKey, string> = {
  fleet: 'inferledger / Fleet overview',
  tenant: 'inferledger / Tenant drill-down',
  billing: 'inferledger / Billing report',
  capacity: 'inferledger / GPU & capacity',
  quotas: 'inferledger / Quotas & anomalies',
};

/** A link to one of our boards, keeping the time range. */
export interface BoardRef {
  board: BoardKey;
  title: string;
  tooltip?: string;
  /**
   * Variables to set on the target: name → value expression, e.g. `${__data.fields.tenant}` in
   * a data link or `${tenant}` in a panel link. Values come from Grafana, never from this code.
   */
  vars?: Readonly<Record<string, string>>;
}

export function boardUrl(ref: BoardRef): string {
  const vars = Object.entries(ref.vars ?? {}).map(([name, value]) => `var-${name}=${value}`);
  return `/d/${BOARD_UIDS[ref.board]}?${[...vars, '${__url_time_range}'].join('&')}`;
}

/** The header links of a board: every other board, same time range. */
export function boardLinks(self: BoardKey): dashboard.DashboardLinkBuilder[] {
  return (Object.keys(BOARD_UIDS) as BoardKey[])
    .filter((key) => key !== self)
    .map((key) =>
      new dashboard.DashboardLinkBuilder(BOARD_TITLES[key].replace('inferledger / ', ''))
        .type(dashboard.DashboardLinkType.Link)
        .url(`/d/${BOARD_UIDS[key]}`)
        .tooltip(BOARD_TITLES[key])
        .icon('dashboard')
        .asDropdown(false)
        .targetBlank(false)
        .includeVars(false)
        .keepTime(true),
    );
}
