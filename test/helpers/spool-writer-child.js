'use strict';
/**
 * Child process of test/spool-kill.test.ts: opens a spool with the COMPILED Spool (dist/) and
 * appends segments as fast as it can until it is killed, printing "open" once the spool is open
 * and "ack <seq>" after each append resolved (committed). Records carry "<pid>-<i>-<j>" so the
 * parent can check every segment it finds is whole.
 *
 * usage: node spool-writer-child.js <dist/sink/spool.js> <spool dir> <records per segment>
 */
const [spoolJs, dir, perSegment] = process.argv.slice(2);
const { Spool } = require(spoolJs);

async function main() {
  const spool = await Spool.open(dir, { maxBytes: 1e12 });
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
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
