/**
 * Building configuration texts for tests: a small valid base to edit, and locating the line
 * of a marker in a text, so expected line numbers are derived from the text itself.
 */
import { ConfigError, parseConfig } from '../../src/config/load';
import type { ConfigProblem } from '../../src/config/types';

/** A minimal valid configuration (1 ENI by address, 1 flow log to stdout). */
export const BASE_CONFIG = `region: cn-hangzhou
accountId: "1234567890123456"
enis:
  - id: eni-a
    ips: [10.0.0.1]
    vpcId: vpc-1
    vswitchId: vsw-1
    vmId: i-1
flowLogs:
  - id: fl-1
    resourceType: eni
    resourceId: eni-a
    sink: {type: stdout}
`;

/** 1-based line of the first line containing `marker`; throws when absent (a broken test). */
export function lineOf(text: string, marker: string): number {
  const index = text.split('\n').findIndex((l) => l.includes(marker));
  if (index < 0) throw new Error(`find marker: "${marker}" not in text`);
  return index + 1;
}

/** Replaces exactly one occurrence of `from`; throws when absent so edits cannot silently miss. */
export function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`edit config: "${from}" not in text`);
  return text.replace(from, to);
}

/** All problems of a text (errors and warnings), whether or not it is refused. */
export function problemsOf(text: string, file = '/cfg/test.yaml'): { refused: boolean; problems: ConfigProblem[] } {
  try {
    return { refused: false, problems: parseConfig(text, file).warnings };
  } catch (err) {
    if (err instanceof ConfigError) return { refused: true, problems: err.problems };
    throw err;
  }
}
