import { NAME_MAX, fitText, viewName } from './sls-view-names';
import * as Q from './sls-view-queries';

/**
 * The alert rules and saved searches `sls setup` keeps for a flow-log Logstore, in the
 * structures of the CreateAlert (`POST /alerts`, alert configuration version 2.0) and
 * CreateSavedSearch (`POST /savedsearches`) APIs.
 *
 * Alerts fire into the project's alert center through the built-in dynamic alert policy
 * (`sls.builtin.dynamic`); who is notified is the action policy's business, named with
 * `sls setup --alert-action-policy ID` (none by default: the console shows the alerts).
 */

/** REJECT spike: at least this many rejected packets in 15 minutes... */
export const REJECT_SPIKE_MIN_PACKETS = 100;
/** ...and this many times the 15-minute average of the 45 minutes before. */
export const REJECT_SPIKE_FACTOR = 3;

export interface AlertQuery {
  storeType: 'log';
  project: string;
  store: string;
  region: string;
  query: string;
  timeSpanType: 'Relative';
  start: string;
  end: string;
  powerSqlMode: 'auto';
}

export interface AlertRule {
  name: string;
  displayName: string;
  description: string;
  configuration: {
    version: '2.0';
    type: 'default';
    dashboard: string;
    queryList: AlertQuery[];
    groupConfiguration: { type: 'custom'; fields: string[] };
    joinConfigurations: never[];
    severityConfigurations: Array<{ severity: number; evalCondition: { condition: string; countCondition: string } }>;
    labels: Array<{ key: string; value: string }>;
    annotations: Array<{ key: string; value: string }>;
    autoAnnotation: boolean;
    sendResolved: boolean;
    threshold: number;
    noDataFire: boolean;
    noDataSeverity: number;
    policyConfiguration: { alertPolicyId: string; actionPolicyId: string; repeatInterval: string };
  };
  schedule: { type: 'FixedRate'; interval: string; runImmediately: boolean };
}

export interface SavedSearch {
  savedsearchName: string;
  displayName: string;
  logstore: string;
  topic: string;
  searchQuery: string;
}

/** Where the alert rules look: the sink's project, Logstore and region. */
export interface AlertTarget {
  project: string;
  logstore: string;
  region: string;
  /** Action policy of the notifications; '' for none. */
  actionPolicyId: string;
}

/** Severities of the alert configuration: 2 report, 4 low, 6 medium, 8 high, 10 critical. */
const HIGH = 8;
const MEDIUM = 6;

function rule(
  t: AlertTarget,
  suffix: string,
  title: string,
  description: string,
  o: { query: string; condition: string; severity: number; annotations: Array<{ key: string; value: string }> },
): AlertRule {
  return {
    name: viewName(t.logstore, suffix, NAME_MAX.alert),
    displayName: fitText(`${title} (${t.logstore})`, 64),
    description,
    configuration: {
      version: '2.0',
      type: 'default',
      dashboard: 'internal-alert-analysis',
      // One hour back, checked every 5 minutes: a window's records reach the Logstore after the
      // window closes (up to 10 minutes) and later still after an outage (the spool), so a
      // shorter range would miss them; the repeat interval keeps one loss from paging 12 times.
      queryList: [
        {
          storeType: 'log',
          project: t.project,
          store: t.logstore,
          region: t.region,
          query: o.query,
          timeSpanType: 'Relative',
          start: '-1h',
          end: 'now',
          powerSqlMode: 'auto',
        },
      ],
      groupConfiguration: { type: 'custom', fields: ['eni'] },
      joinConfigurations: [],
      severityConfigurations: [{ severity: o.severity, evalCondition: { condition: o.condition, countCondition: '' } }],
      labels: [
        { key: 'source', value: 'flowlog-agent' },
        { key: 'logstore', value: t.logstore },
      ],
      annotations: o.annotations,
      autoAnnotation: true,
      sendResolved: false,
      threshold: 1,
      noDataFire: false,
      noDataSeverity: MEDIUM,
      policyConfiguration: {
        alertPolicyId: 'sls.builtin.dynamic',
        actionPolicyId: t.actionPolicyId,
        repeatInterval: '1h',
      },
    },
    schedule: { type: 'FixedRate', interval: '5m', runImmediately: false },
  };
}

/** The SKIPDATA (any loss, per ENI) and REJECT spike (per ENI) alert rules of a Logstore. */
export function flowLogAlerts(t: AlertTarget): AlertRule[] {
  return [
    rule(
      t,
      'skipdata',
      'Flow log loss (SKIPDATA)',
      'Any SKIPDATA record in the last hour, per ENI (flowlog-agent sls setup)',
      {
        query: Q.SKIPDATA_BY_ENI,
        condition: 'loss_windows > 0',
        severity: HIGH,
        annotations: [
          { key: 'title', value: 'Flow log loss on ${eni} (${vm})' },
          {
            key: 'desc',
            value:
              '${loss_windows} window(s) with SKIPDATA between ${first_loss} and ${last_loss}: ${lost_packets} packets lost; ' +
              '${uncounted_windows} window(s) not captured at all (agent down or clock step). See the agent metrics for the reason.',
          },
        ],
      },
    ),
    rule(
      t,
      'reject-spike',
      'Flow log REJECT spike',
      'REJECT packets per ENI in 15 minutes against the 45 before (flowlog-agent sls setup)',
      {
        query: Q.REJECT_SPIKE_BY_ENI,
        condition: `recent_reject_packets >= ${REJECT_SPIKE_MIN_PACKETS} && recent_reject_packets > ${REJECT_SPIKE_FACTOR} * baseline_reject_packets`,
        severity: MEDIUM,
        annotations: [
          { key: 'title', value: 'REJECT spike on ${eni}' },
          {
            key: 'desc',
            value:
              '${recent_reject_packets} rejected packets in 15 minutes; 15-minute average of the 45 before: ${baseline_reject_packets}.',
          },
        ],
      },
    ),
  ];
}

/** Saved searches of a Logstore: every loss, and the rejected flows. */
export function flowLogSavedSearches(logstore: string): SavedSearch[] {
  const search = (suffix: string, title: string, searchQuery: string): SavedSearch => ({
    savedsearchName: viewName(logstore, suffix, NAME_MAX.savedSearch),
    displayName: fitText(`${title} (${logstore})`, 63),
    logstore,
    topic: '',
    searchQuery,
  });
  return [
    search('losses', 'Flow log losses (SKIPDATA)', Q.LOSSES),
    search('rejected', 'Rejected flows', Q.TOP_REJECTED_FLOWS),
  ];
}
