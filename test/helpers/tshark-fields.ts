import { execFileSync } from 'node:child_process';

/**
 * tshark as an independent reader of generated captures: one row per frame with the asked
 * fields (multiple occurrences joined by ','), with IP/TCP/UDP checksum validation turned on
 * so `*.checksum.status` reads 1 (good), 0 (bad) or 2 (unverified).
 */
export function tsharkFields(
  file: string,
  fields: readonly string[],
  displayFilter?: string,
  extraArgs: readonly string[] = [],
): Array<Record<string, string>> {
  const args = [
    '-r',
    file,
    '-n',
    '-o',
    'ip.check_checksum:TRUE',
    '-o',
    'tcp.check_checksum:TRUE',
    '-o',
    'udp.check_checksum:TRUE',
    '-T',
    'fields',
    '-E',
    'separator=/t',
    '-E',
    'occurrence=a',
    '-E',
    'aggregator=,',
  ];
  args.push(...extraArgs);
  if (displayFilter !== undefined) args.push('-Y', displayFilter);
  for (const f of fields) args.push('-e', f);
  const text = execFileSync('tshark', args, {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const cols = line.split('\t');
      const row: Record<string, string> = {};
      fields.forEach((f, i) => (row[f] = cols[i] ?? ''));
      return row;
    });
}

/** Frames tshark marks malformed or with an expert item of severity warning or worse (checksums checked). */
export function tsharkProblemFrames(file: string): string[] {
  return tsharkFields(
    file,
    ['frame.number', '_ws.expert.message'],
    '_ws.malformed || _ws.expert.severity >= warning',
  ).map((r) => `${r['frame.number']}: ${r['_ws.expert.message']}`);
}

/** capinfos' file type and encapsulation, e.g. ["pcap", "ether"] or ["pcapng", "ether"]. */
export function captureFileType(file: string): { type: string; encapsulation: string } {
  const text = execFileSync('capinfos', ['-t', '-E', '-T', '-r', file], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const [, type, encapsulation] = text.trim().split('\t');
  return { type, encapsulation };
}
