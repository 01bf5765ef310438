#!/usr/bin/env node
'use strict';
/**
 * The ceiling of the design: node-pcap's low-level binding reading a capture file with a
 * callback that only counts. Everything the agent does beyond this (decode, attribute,
 * aggregate, write records) is the agent's own cost.
 *
 *   node bench/bare-loop.js FILE   ->  {"packets":N,"linkType":"LINKTYPE_ETHERNET"} on stdout
 */

function bareLoop(file) {
  const { PcapSession } = require('pcap/build/Release/pcap_binding');
  const session = new PcapSession();
  let packets = 0;
  const onPacket = () => {
    packets++;
  };
  const linkType = session.open_offline(
    file,
    '',
    0,
    0,
    '',
    onPacket,
    false,
    0,
    (w) => process.stderr.write(`pcap: ${w}\n`),
    false,
  );
  const frame = Buffer.alloc(262144);
  const header = Buffer.alloc(16);
  // Offline, one dispatch reads to the end of the file; loop in case a build returns earlier.
  let rc = 1;
  while (rc > 0) rc = session.dispatch(frame, header);
  if (rc === -1) throw new Error(`read ${file}: libpcap read error`);
  return { packets, linkType };
}

module.exports = { bareLoop };

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node bench/bare-loop.js FILE\n');
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(bareLoop(file))}\n`);
}
