import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeliveredOutput } from '../../src/output/delivered-output';
import { parseConfig } from '../../src/config/load';
import { numbers, sizedBatch } from '../helpers/records';
import { tempDirForFile } from '../helpers/temp-dir';

const dir = tempDirForFile('delivered-output');

function config(sinkFile: string, concurrency = 1) {
  const text = `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${join(dir, 'state')}
enis:
  - { id: eni-a, ips: [10.0.0.1], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
flowLogs:
  - { id: fl-test, resourceType: eni, resourceId: eni-a, sink: { type: file, path: ${join(dir, sinkFile)} } }
delivery: { lingerMs: 0, concurrency: ${concurrency} }
`;
  return parseConfig(text, '/cfg/delivered-output.yaml').config;
}

function ns(file: string): string[] {
  const path = join(dir, file);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { n: string }).n);
}

describe('DeliveredOutput.replaceChangedSinks', () => {
  it('moves a flow log to its changed sink: records after the reload, and those submitted during the move, go there', async () => {
    const before = config('a.jsonl');
    const after = config('b.jsonl');
    const out = await DeliveredOutput.open(before, 5000);
    out.submit(sizedBatch(1, 3));
    const moving = out.replaceChangedSinks(before, after);
    out.submit(sizedBatch(4, 2)); // arrives while the old delivery closes: held, then sent to the new sink
    expect(await moving).toEqual({ moved: ['fl-test'], kept: [] });
    out.submit(sizedBatch(6, 2));
    expect(await out.close()).toEqual({ delivered: 7, spooled: 0 });
    // Every record exactly once: the first batch went out (or was spooled and followed) before the move.
    expect([...ns('a.jsonl'), ...ns('b.jsonl')].sort((x, y) => Number(x) - Number(y))).toEqual(numbers(1, 7));
    expect(ns('b.jsonl')).toEqual(expect.arrayContaining(numbers(4, 4)));
  });

  it('leaves a flow log whose sink settings did not change where it is', async () => {
    const same = config('c.jsonl');
    const out = await DeliveredOutput.open(same, 5000);
    const d = out.deliveries.get('fl-test');
    expect(await out.replaceChangedSinks(same, config('c.jsonl'))).toEqual({ moved: [], kept: [] });
    expect(out.deliveries.get('fl-test')).toBe(d);
    await out.close();
  });

  it('moves a flow log whose delivery settings changed, keeping its sink file', async () => {
    const out = await DeliveredOutput.open(config('d.jsonl'), 5000);
    out.submit(sizedBatch(1, 2));
    expect(await out.replaceChangedSinks(config('d.jsonl'), config('d.jsonl', 3))).toEqual({
      moved: ['fl-test'],
      kept: [],
    });
    out.submit(sizedBatch(3, 2));
    await out.close();
    expect(ns('d.jsonl')).toEqual(numbers(1, 4));
  });
});
