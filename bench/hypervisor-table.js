'use strict';
// The table of bench/hypervisor-bench.js's results (bench/run.js prints it too): one row per
// engine x N x shape x round, and tcpdump's rows for the busy phase's reference.

/** A busy phase's check: recorded/sent and ENIs exact, '-' where nothing was checked. */
function exactText(p) {
  if (!p || p.recorded === undefined) return '-';
  return `${p.recorded === p.sent && p.deviceRx === p.sent ? 'ok' : 'OFF'} ${p.exactEnis}/${p.enis}`;
}

/** "MainThread 0.090 s, libuv-worker 0.050 s, ..." (threads above 1 ms, most first). */
function threadText(threads) {
  return Object.entries(threads)
    .filter(([, sec]) => sec >= 0.001)
    .sort((x, y) => y[1] - x[1])
    .map(([name, sec]) => `${name} ${sec.toFixed(3)} s`)
    .join(', ');
}

function hypervisorLines(results) {
  const tcpdumpOf = (r) => results.find((t) => t.engine === 'tcpdump' && t.round === r.round && t.enis === r.enis);
  const cols = (c) =>
    `  ${c[0].padEnd(7)} ${c[1].padStart(4)} ${c[2].padEnd(6)} ${c[3].padStart(6)} ${c[4].padStart(4)} ${c[5].padStart(6)}` +
    ` ${c[6].padStart(8)} ${c[7].padStart(8)} ${c[8].padStart(6)} ${c[9].padStart(7)} ${c[10].padStart(7)} ${c[11].padStart(10)} ${c[12].padStart(10)} ${c[13].padStart(5)}`;
  const lines = [
    'hypervisor scale (bench/hypervisor-bench.js): start to ready, daemon RSS, idle CPU over 10 s; busy: process CPU over the send and 2.5 s after,',
    `  spread round-robin over all ENIs and the same packets to one ENI; exact: 20 packets per ENI, and every busy packet in the records`,
    `  (sum = sent = ENI devices' rx, ENIs exact); drops: SKIPDATA packets`,
    cols([
      'engine',
      'ENIs',
      'shape',
      'ready',
      'RSS',
      'idle',
      'spread',
      'one',
      'ratio',
      'vs tcpd',
      'exact20',
      'spread ok',
      'one ok',
      'drops',
    ]),
    cols(['', '', '', 'ms', 'MiB', '%core', 'CPU s', 'CPU s', 's/one', 'spread', 'ENIs', '', '', '']),
  ];
  for (const r of results) {
    if (r.skipped) {
      lines.push(`  ${r.engine.padEnd(7)} skipped: ${r.skipped}`);
      continue;
    }
    const b = r.busy;
    const t = r.engine === 'tcpdump' ? null : tcpdumpOf(r);
    lines.push(
      cols([
        r.engine,
        String(r.enis),
        r.shape,
        r.readySec === undefined ? '-' : String(Math.round(r.readySec * 1000)),
        r.rssMiB === undefined ? '-' : String(r.rssMiB),
        r.idleCpuPct === undefined ? '-' : r.idleCpuPct.toFixed(2),
        b ? b.spread.cpuSec.toFixed(3) : '-',
        b ? b.one.cpuSec.toFixed(3) : '-',
        b ? `${(b.spread.cpuSec / b.one.cpuSec).toFixed(2)}x` : '-',
        b && t ? `${(b.spread.cpuSec / t.busy.spread.cpuSec).toFixed(1)}x` : '-',
        r.exactEnis === undefined ? '-' : `${r.exactEnis}/${r.enis}`,
        exactText(b && b.spread),
        exactText(b && b.one),
        String(r.drops),
      ]),
    );
    if (b && b.spread.threads && r.engine !== 'tcpdump')
      lines.push(`          spread CPU by thread: ${threadText(b.spread.threads)}`);
  }
  const sent = results.find((r) => r.busy);
  if (sent)
    lines.push(
      `  busy: ${sent.busy.spread.sent} UDP packets per phase at ${Math.round(sent.busy.spread.sent / sent.busy.spread.sendSec)} pps achieved (python sender, one socket per VM); tcpdump: -i any -w /dev/null alone, same traffic`,
    );
  return lines;
}

module.exports = { hypervisorLines };
