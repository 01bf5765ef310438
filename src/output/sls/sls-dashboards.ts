import { NAME_MAX, viewName } from './sls-view-names';
import * as Q from './sls-view-queries';

/**
 * The four dashboards `sls setup` keeps for a flow-log Logstore, after Flow Log Center's
 * (Overview, Policy statistics, ENI traffic, Inter-ECS traffic), in the structure of the
 * CreateDashboard API: charts with `search` (logstore, topic, query, time range) and `display`
 * (axes, position and size on the dashboard grid, title shown).
 */

/** Columns of the dashboard grid; a chart's xPos + width stays within it. */
export const GRID_COLUMNS = 24;
/** Default time range of every chart: the last day. */
const RANGE = { start: '-86400s', end: 'now', timeSpanType: 'relative' } as const;

export interface ChartSearch {
  logstore: string;
  topic: string;
  query: string;
  start: string;
  end: string;
  timeSpanType: string;
}

export interface ChartDisplay {
  xAxis: string[];
  yAxis: string[];
  xPos: number;
  yPos: number;
  width: number;
  height: number;
  displayName: string;
}

export interface DashboardChart {
  /** Unique within the dashboard; the service's chart-name rule. */
  title: string;
  /** line | bar | pie | table. */
  type: string;
  search: ChartSearch;
  display: ChartDisplay;
  action: Record<string, never>;
}

export interface Dashboard {
  dashboardName: string;
  displayName: string;
  description: string;
  attribute: { type: 'grid' };
  charts: DashboardChart[];
}

/** A chart before layout: what it shows, and how wide it is (grid columns). */
interface ChartSpec {
  title: string;
  type: 'line' | 'bar' | 'pie' | 'table';
  displayName: string;
  query: string;
  xAxis?: string[];
  yAxis?: string[];
  width: number;
}

/** A row of charts of one height. */
interface Row {
  height: number;
  charts: ChartSpec[];
}

/**
 * Places rows of charts top to bottom, each row left to right: charts never overlap and never
 * leave the grid (a row wider than the grid is a bug of this file, thrown at once).
 */
function layOut(logstore: string, rows: Row[]): DashboardChart[] {
  const charts: DashboardChart[] = [];
  let yPos = 0;
  for (const row of rows) {
    let xPos = 0;
    for (const c of row.charts) {
      if (xPos + c.width > GRID_COLUMNS)
        throw new RangeError(`lay out chart ${c.title}: row is wider than ${GRID_COLUMNS} columns`);
      charts.push({
        title: c.title,
        type: c.type,
        search: { logstore, topic: '', query: c.query, ...RANGE },
        display: {
          xAxis: c.xAxis ?? [],
          yAxis: c.yAxis ?? [],
          xPos,
          yPos,
          width: c.width,
          height: row.height,
          displayName: c.displayName,
        },
        action: {},
      });
      xPos += c.width;
    }
    yPos += row.height;
  }
  return charts;
}

const H = 8;

function dashboard(logstore: string, suffix: string, title: string, description: string, rows: Row[]): Dashboard {
  return {
    dashboardName: viewName(logstore, suffix, NAME_MAX.dashboard),
    displayName: `${title} (${logstore})`,
    description,
    attribute: { type: 'grid' },
    charts: layOut(logstore, rows),
  };
}

/** The dashboards of `logstore`, in the order the console lists Flow Log Center's. */
export function flowLogDashboards(logstore: string): Dashboard[] {
  const overview = dashboard(
    logstore,
    'overview',
    'Flow logs: overview',
    'Traffic, top talkers and losses (flowlog-agent sls setup)',
    [
      {
        height: H,
        charts: [
          { title: 'totals', type: 'table', displayName: 'Totals (OK records)', query: Q.TOTALS, width: 8 },
          {
            title: 'log-status',
            type: 'pie',
            displayName: 'Records by log-status',
            query: Q.LOG_STATUS_MIX,
            xAxis: ['status'],
            yAxis: ['records'],
            width: 6,
          },
          {
            title: 'losses',
            type: 'table',
            displayName: 'Losses (SKIPDATA): every window',
            query: Q.LOSSES,
            width: 10,
          },
        ],
      },
      {
        height: H,
        charts: [
          {
            title: 'bytes-by-direction',
            type: 'line',
            displayName: 'Bytes in and out',
            query: Q.byDirectionOverTime('bytes'),
            xAxis: ['time_bucket'],
            yAxis: ['in_bytes', 'out_bytes'],
            width: 12,
          },
          {
            title: 'packets-by-direction',
            type: 'line',
            displayName: 'Packets in and out',
            query: Q.byDirectionOverTime('packets'),
            xAxis: ['time_bucket'],
            yAxis: ['in_packets', 'out_packets'],
            width: 12,
          },
        ],
      },
      {
        height: H,
        charts: [
          {
            title: 'top-talkers',
            type: 'table',
            displayName: 'Top talkers (address pair and port)',
            query: Q.TOP_TALKERS,
            width: 24,
          },
        ],
      },
    ],
  );

  const policy = dashboard(
    logstore,
    'policy',
    'Flow logs: policy statistics',
    'ACCEPT and REJECT (flowlog-agent sls setup)',
    [
      {
        height: H,
        charts: [
          {
            title: 'accept-reject',
            type: 'line',
            displayName: 'ACCEPT and REJECT packets',
            query: Q.ACTION_OVER_TIME,
            xAxis: ['time_bucket'],
            yAxis: ['accept_packets', 'reject_packets'],
            width: 24,
          },
        ],
      },
      {
        height: H,
        charts: [
          {
            title: 'reject-by-eni',
            type: 'bar',
            displayName: 'REJECT packets by ENI',
            query: Q.rejectedBy('eni-id'),
            xAxis: ['eni-id'],
            yAxis: ['reject_packets'],
            width: 8,
          },
          {
            title: 'reject-by-port',
            type: 'bar',
            displayName: 'REJECT packets by destination port',
            query: Q.rejectedBy('dstport'),
            xAxis: ['dstport'],
            yAxis: ['reject_packets'],
            width: 8,
          },
          {
            title: 'reject-by-source',
            type: 'bar',
            displayName: 'REJECT packets by source',
            query: Q.rejectedBy('srcaddr'),
            xAxis: ['srcaddr'],
            yAxis: ['reject_packets'],
            width: 8,
          },
        ],
      },
      {
        height: H,
        charts: [
          {
            title: 'top-rejected',
            type: 'table',
            displayName: 'Top rejected flows',
            query: Q.TOP_REJECTED_FLOWS,
            width: 24,
          },
        ],
      },
    ],
  );

  const eni = dashboard(logstore, 'eni', 'Flow logs: ENI traffic', 'Traffic per ENI (flowlog-agent sls setup)', [
    {
      height: H,
      charts: [{ title: 'per-eni', type: 'table', displayName: 'Traffic per ENI', query: Q.PER_ENI, width: 24 }],
    },
    {
      height: H,
      charts: [
        {
          title: 'bytes-by-eni',
          type: 'bar',
          displayName: 'Bytes by ENI',
          query: Q.BYTES_BY_ENI,
          xAxis: ['eni-id'],
          yAxis: ['total_bytes'],
          width: 12,
        },
        { title: 'top-peers', type: 'table', displayName: 'Top peers per ENI', query: Q.TOP_PEERS, width: 12 },
      ],
    },
    {
      height: H,
      charts: [{ title: 'top-ports', type: 'table', displayName: 'Top ports per ENI', query: Q.TOP_PORTS, width: 24 }],
    },
  ]);

  const interEni = dashboard(
    logstore,
    'inter-eni',
    'Flow logs: inter-ECS traffic',
    'Traffic between ENIs of one VPC (flowlog-agent sls setup)',
    [
      {
        height: H,
        charts: [
          {
            title: 'inter-eni-bytes',
            type: 'line',
            displayName: 'Bytes between ENIs of one VPC',
            query: Q.INTER_ENI_OVER_TIME,
            xAxis: ['time_bucket'],
            yAxis: ['inter_eni_bytes'],
            width: 24,
          },
        ],
      },
      {
        height: H,
        charts: [
          {
            title: 'inter-eni-pairs',
            type: 'table',
            displayName: 'ENI pairs of one VPC',
            query: Q.INTER_ENI_PAIRS,
            width: 24,
          },
        ],
      },
    ],
  );

  return [overview, policy, eni, interEni];
}
