'use strict';
/**
 * Child process of test/output/spool/spool-kill.live.test.ts: opens a spool with the COMPILED Spool (dist/) and
 * appends segments as fast as it can until it is killed, printing "open" once the spool is open
 * and "ack <seq>" after each append resolved (committed). Records carry "<pid>-<i>-<j>" so the
 * parent can check every segment it finds is whole.
 *
 * With a limit it appends that many segments, holds the spool open holdMs and closes; a directory another live process holds
 * prints "locked <pid>" and exits 3.
 *
 * usage: node spool-writer-child.js <dist/output/spool/spool.js> <spool dir> <records per segment> [limit [holdMs]]
 */
const [spoolJs, dir, perSegment, limit, holdMs] = process.argv.slice(2);
const { Spool } = require(spoolJs);
// The Log Service sink's measure, from the same compiled tree (output/spool/ -> output/sls/).
const { slsLogMeasure } = require(require('node:path').join(spoolJs, '..', '..', 'sls', 'sls-log-group.js'));
const quiet = { info() {}, warn() {}, error() {} };

async function main() {
  let spool;
  try {
    spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e12, logger: quiet });
  } catch (err) {
    // Another process holds the directory: say so and leave it alone (exit 3).
    if (err.name !== 'SpoolLockedError') throw err;
    process.stdout.write(`locked ${err.holderPid}\n`);
    process.exit(3);
  }
  process.stdout.write('open\n');
  const padding = 'x'.repeat(1000);
  for (let i = 0; ; i++) {
    const records = [];
    for (let j = 0; j < Number(perSegment); j++) records.push({ n: `${process.pid}-${i}-${j}`, p: padding });
    const info = await spool.append(
      { flowLogId: 'fl-kill', windowStartSec: 1_700_000_000 + i * 60, windowEndSec: 1_700_000_060 + i * 60, records },
      records.length * 1000,
    );
    process.stdout.write(`ack ${info.seq}\n`);
    if (limit !== undefined && i + 1 >= Number(limit)) {
      await new Promise((resolve) => setTimeout(resolve, Number(holdMs ?? 0)));
      await spool.close();
      return;
    }
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
