/**
 * The Log Service queries behind the flow-log dashboards, alert rules and saved searches
 * (`sls setup`), in one place so a chart, an alert and a saved search that show the same thing
 * run the same SQL.
 *
 * Each is a search statement (`*`) and an analytic statement over the record's fields as
 * `sls setup` indexes them (src/output/sls/sls-index.ts): packets, bytes, srcport, dstport, protocol,
 * start and end are long, the rest text. In SQL every record field is written double-quoted:
 * the dashed names ("log-status", "eni-id", "vpc-id", "vm-id") would otherwise parse as
 * subtractions, and `end` is a reserved word. A record value that is not a number ('-' in
 * NODATA records and in SKIPDATA records of an uncaptured stretch) reads as NULL from a long
 * column, so the traffic queries count OK records only and the loss queries handle NULL.
 *
 * Time buckets are 10 minutes (the default aggregation window) of `__time__`, which the sink
 * sets to the record's `start` (src/output/sls/sls-log-group.ts).
 */

/** A record field as a SQL identifier. */
export function col(field: string): string {
  return `"${field}"`;
}

const OK = `${col('log-status')} = 'OK'`;
const SKIPDATA = `${col('log-status')} = 'SKIPDATA'`;
const REJECT = `${col('action')} = 'REJECT'`;
/** The 10-minute bucket of a log's time, as a timestamp. */
const BUCKET = 'from_unixtime(__time__ - __time__ % 600)';
const LIMIT_SERIES = 'LIMIT 1000';

/** `sum(value)` over the records where `condition` holds. */
function sumIf(condition: string, value: string): string {
  return `sum(CASE WHEN ${condition} THEN ${value} ELSE 0 END)`;
}

function query(sql: string): string {
  return `* | ${sql.replace(/\s+/g, ' ').trim()}`;
}

/** Overview: flows, packets, bytes, ENIs and rejected flows of the range. */
export const TOTALS = query(`
  SELECT count(1) AS flows, sum(${col('packets')}) AS total_packets, sum(${col('bytes')}) AS total_bytes,
    count(DISTINCT ${col('eni-id')}) AS enis, ${sumIf(REJECT, '1')} AS rejected_flows
  FROM log WHERE ${OK}`);

/** Bytes (or packets) per 10 minutes, inbound and outbound as two columns. */
export function byDirectionOverTime(measure: 'bytes' | 'packets'): string {
  return query(`
    SELECT ${BUCKET} AS time_bucket,
      ${sumIf(`${col('direction')} = 'in'`, col(measure))} AS in_${measure},
      ${sumIf(`${col('direction')} = 'out'`, col(measure))} AS out_${measure}
    FROM log WHERE ${OK} GROUP BY time_bucket ORDER BY time_bucket ${LIMIT_SERIES}`);
}

/** Records per log-status: OK flows, NODATA windows, SKIPDATA (loss) windows. */
export const LOG_STATUS_MIX = query(`
  SELECT ${col('log-status')} AS status, count(1) AS records FROM log GROUP BY status ORDER BY records DESC`);

/** Top talkers: address pair, destination port and protocol, by bytes. */
export const TOP_TALKERS = query(`
  SELECT ${col('srcaddr')}, ${col('dstaddr')}, ${col('dstport')}, ${col('protocol')},
    sum(${col('packets')}) AS total_packets, sum(${col('bytes')}) AS total_bytes
  FROM log WHERE ${OK}
  GROUP BY ${col('srcaddr')}, ${col('dstaddr')}, ${col('dstport')}, ${col('protocol')}
  ORDER BY total_bytes DESC LIMIT 10`);

/** Every SKIPDATA record: ENI, window, packets and bytes lost (NULL: not counted, the agent was not capturing). */
export const LOSSES = query(`
  SELECT ${col('eni-id')}, ${col('vm-id')}, from_unixtime(${col('start')}) AS window_start,
    from_unixtime(${col('end')}) AS window_end, ${col('packets')} AS lost_packets, ${col('bytes')} AS lost_bytes
  FROM log WHERE ${SKIPDATA} ORDER BY ${col('start')} DESC LIMIT 1000`);

/** ACCEPT and REJECT packets per 10 minutes. */
export const ACTION_OVER_TIME = query(`
  SELECT ${BUCKET} AS time_bucket,
    ${sumIf(`${col('action')} = 'ACCEPT'`, col('packets'))} AS accept_packets,
    ${sumIf(REJECT, col('packets'))} AS reject_packets
  FROM log WHERE ${OK} GROUP BY time_bucket ORDER BY time_bucket ${LIMIT_SERIES}`);

/** Rejected packets grouped by one field (eni-id, dstport, srcaddr), the top 10. */
export function rejectedBy(field: 'eni-id' | 'dstport' | 'srcaddr'): string {
  return query(`
    SELECT ${col(field)}, sum(${col('packets')}) AS reject_packets, count(1) AS reject_flows
    FROM log WHERE ${OK} AND ${REJECT} GROUP BY ${col(field)} ORDER BY reject_packets DESC LIMIT 10`);
}

/** The rejected flows with the most packets: 5-tuple, ENI and direction. */
export const TOP_REJECTED_FLOWS = query(`
  SELECT ${col('eni-id')}, ${col('direction')}, ${col('srcaddr')}, ${col('srcport')}, ${col('dstaddr')}, ${col('dstport')},
    ${col('protocol')}, sum(${col('packets')}) AS reject_packets, sum(${col('bytes')}) AS reject_bytes
  FROM log WHERE ${OK} AND ${REJECT}
  GROUP BY ${col('eni-id')}, ${col('direction')}, ${col('srcaddr')}, ${col('srcport')}, ${col('dstaddr')}, ${col('dstport')}, ${col('protocol')}
  ORDER BY reject_packets DESC LIMIT 20`);

/** Per ENI: bytes and packets in and out, flows and rejected flows. */
export const PER_ENI = query(`
  SELECT ${col('eni-id')}, ${col('vm-id')}, ${col('vpc-id')},
    ${sumIf(`${col('direction')} = 'in'`, col('bytes'))} AS in_bytes, ${sumIf(`${col('direction')} = 'out'`, col('bytes'))} AS out_bytes,
    ${sumIf(`${col('direction')} = 'in'`, col('packets'))} AS in_packets, ${sumIf(`${col('direction')} = 'out'`, col('packets'))} AS out_packets,
    sum(${col('bytes')}) AS total_bytes, count(1) AS flows, ${sumIf(REJECT, '1')} AS rejected_flows
  FROM log WHERE ${OK} GROUP BY ${col('eni-id')}, ${col('vm-id')}, ${col('vpc-id')} ORDER BY total_bytes DESC LIMIT 100`);

/** Bytes per ENI, the top 10. */
export const BYTES_BY_ENI = query(`
  SELECT ${col('eni-id')}, sum(${col('bytes')}) AS total_bytes FROM log WHERE ${OK}
  GROUP BY ${col('eni-id')} ORDER BY total_bytes DESC LIMIT 10`);

/** Per ENI, the remote addresses it exchanged the most bytes with. */
export const TOP_PEERS = query(`
  SELECT ${col('eni-id')}, CASE WHEN ${col('direction')} = 'out' THEN ${col('dstaddr')} ELSE ${col('srcaddr')} END AS peer,
    sum(${col('bytes')}) AS total_bytes, sum(${col('packets')}) AS total_packets
  FROM log WHERE ${OK} GROUP BY ${col('eni-id')}, peer ORDER BY total_bytes DESC LIMIT 20`);

/** Per ENI, the destination ports and protocols with the most bytes. */
export const TOP_PORTS = query(`
  SELECT ${col('eni-id')}, ${col('protocol')}, ${col('dstport')}, sum(${col('bytes')}) AS total_bytes, sum(${col('packets')}) AS total_packets
  FROM log WHERE ${OK} GROUP BY ${col('eni-id')}, ${col('protocol')}, ${col('dstport')} ORDER BY total_bytes DESC LIMIT 20`);

/**
 * Inter-ENI traffic of one VPC, as its senders recorded it: the outbound OK records of an ENI
 * whose destination is an address another ENI of the same VPC used in the range (the source
 * of its outbound records or the destination of its inbound ones). The logstore holds no
 * address inventory, so the addresses are learned from the records, as `flowlog-agent report`
 * does (src/report/flow-report.ts).
 */
const ENI_ADDRESSES = `
  SELECT DISTINCT ${col('vpc-id')} AS vpc, ${col('eni-id')} AS eni, ${col('vm-id')} AS vm, ${col('srcaddr')} AS addr
    FROM log WHERE ${OK} AND ${col('direction')} = 'out'
  UNION SELECT DISTINCT ${col('vpc-id')}, ${col('eni-id')}, ${col('vm-id')}, ${col('dstaddr')}
    FROM log WHERE ${OK} AND ${col('direction')} = 'in'`;
const SENT = `
  SELECT __time__ AS t, ${col('vpc-id')}, ${col('eni-id')}, ${col('vm-id')}, ${col('dstaddr')}, ${col('packets')}, ${col('bytes')}
    FROM log WHERE ${OK} AND ${col('direction')} = 'out'`;
const PAIR_JOIN = `FROM (${SENT}) a JOIN (${ENI_ADDRESSES}) b
  ON a.${col('vpc-id')} = b.vpc AND a.${col('dstaddr')} = b.addr AND a.${col('eni-id')} <> b.eni`;

export const INTER_ENI_PAIRS = query(`
  SELECT a.${col('vpc-id')} AS vpc, a.${col('eni-id')} AS src_eni, a.${col('vm-id')} AS src_vm, b.eni AS dst_eni, b.vm AS dst_vm,
    sum(a.${col('packets')}) AS total_packets, sum(a.${col('bytes')}) AS total_bytes
  ${PAIR_JOIN}
  GROUP BY a.${col('vpc-id')}, a.${col('eni-id')}, a.${col('vm-id')}, b.eni, b.vm ORDER BY total_bytes DESC LIMIT 50`);

export const INTER_ENI_OVER_TIME = query(`
  SELECT from_unixtime(a.t - a.t % 600) AS time_bucket, sum(a.${col('bytes')}) AS inter_eni_bytes, sum(a.${col('packets')}) AS inter_eni_packets
  ${PAIR_JOIN}
  GROUP BY time_bucket ORDER BY time_bucket ${LIMIT_SERIES}`);

/**
 * Alert: per ENI, the SKIPDATA records of the range. The record carries no reason field (the
 * agent counts reasons in its metrics); what it does tell is whether the loss was counted
 * (packets lost known: capture drops, a full flow table) or not (packets '-': the agent was not
 * capturing, after a crash or a clock step), hence `uncounted_windows`.
 */
export const SKIPDATA_BY_ENI = query(`
  SELECT ${col('eni-id')} AS eni, arbitrary(${col('vm-id')}) AS vm, count(1) AS loss_windows,
    ${sumIf(`${col('packets')} IS NOT NULL`, col('packets'))} AS lost_packets,
    ${sumIf(`${col('packets')} IS NULL`, '1')} AS uncounted_windows,
    from_unixtime(min(${col('start')})) AS first_loss, from_unixtime(max(${col('end')})) AS last_loss
  FROM log WHERE ${SKIPDATA} GROUP BY eni`);

/** Seconds of the "recent" part of the REJECT spike query; the rest of its hour is the baseline. */
export const REJECT_RECENT_SEC = 900;

/** Alert: per ENI, REJECT packets of the last 15 minutes against the 15-minute average of the 45 before. */
export const REJECT_SPIKE_BY_ENI = query(`
  SELECT ${col('eni-id')} AS eni,
    ${sumIf(`__time__ >= to_unixtime(now()) - ${REJECT_RECENT_SEC}`, col('packets'))} AS recent_reject_packets,
    ${sumIf(`__time__ < to_unixtime(now()) - ${REJECT_RECENT_SEC}`, col('packets'))} / 3.0 AS baseline_reject_packets
  FROM log WHERE ${OK} AND ${REJECT} GROUP BY eni`);
