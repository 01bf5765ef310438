import { describe, expect, it } from 'vitest';
import type { EniConfig } from '../../src/config/types';
import { EniSlots, FREE_ENI } from '../../src/daemon/eni-slots';
import type { EniResolution } from '../../src/enrich/eni-discovery';

const eni = (id: string, extra: Partial<EniConfig> = {}): EniConfig => ({
  id,
  ips: ['10.0.0.1'],
  cidrs: ['10.0.0.1/32'],
  vpcId: 'vpc-1',
  vswitchId: 'vsw-1',
  vmId: `i-${id}`,
  ...extra,
});
/** A resolution: `present` ENIs on devices named after them, `missing` ones without a device. */
const resolution = (present: EniConfig[], missing: EniConfig[] = []): EniResolution => ({
  enis: present.map((e) => ({ eni: { ...e, interface: `dev-${e.id}` }, device: `dev-${e.id}`, shared: false })),
  unresolved: missing.map((e) => ({ id: e.id, reason: 'interface not present', eni: e })),
});

describe('EniSlots', () => {
  it('keeps an index while the ENI is wanted, its device present or missing', () => {
    const slots = new EniSlots();
    const [a, b, c] = [eni('a'), eni('b'), eni('c')];
    expect(slots.apply(resolution([a, b, c]), 100).added.map((e) => e.id)).toEqual(['a', 'b', 'c']);
    // b's device is deleted: no change to the pipeline's list, the index stays.
    const gone = slots.apply(resolution([a, c], [b]), 101);
    expect(gone).toEqual({ added: [], retired: [], changed: false });
    expect(slots.resolved().map((s) => [s.eni.id, s.index])).toEqual([
      ['a', 0],
      ['c', 2],
    ]);
    // Re-created: same index, nothing added.
    expect(slots.apply(resolution([a, b, c]), 102)).toEqual({ added: [], retired: [], changed: false });
    expect(slots.ofDevice('dev-b')?.index).toBe(1);
  });

  it('retires an ENI no longer wanted, gives its index back within the window, frees it after', () => {
    const slots = new EniSlots();
    const [a, b] = [eni('a'), eni('b')];
    slots.apply(resolution([a, b]), 100);
    const removed = slots.apply(resolution([a]), 130);
    expect(removed.retired.map((e) => e.id)).toEqual(['b']);
    expect(removed.changed).toBe(true);
    expect([...slots.secondary()]).toEqual([0, 1]);
    // Back before its window closed: the same index, its flows stay whole.
    expect(slots.apply(resolution([a, b]), 140).added.map((e) => e.id)).toEqual(['b']);
    expect(slots.ofDevice('dev-b')?.index).toBe(1);
    slots.apply(resolution([a]), 150);
    expect(slots.freeRetired(120)).toEqual([]); // its window [120, 180) is still open
    expect(slots.freeRetired(150)).toEqual([]); // retired at 150: the window starting then holds it
    expect(slots.freeRetired(180).map((f) => [f.index, f.eni.id])).toEqual([[1, 'b']]);
    expect(slots.configs()).toEqual([expect.objectContaining({ id: 'a' }), FREE_ENI]);
    // A new ENI takes the free index.
    slots.apply(resolution([a, eni('c')]), 200);
    expect(slots.ofDevice('dev-c')?.index).toBe(1);
  });

  it('gives an ENI whose record attributes change a new index and retires the old one', () => {
    const slots = new EniSlots();
    slots.apply(resolution([eni('a')]), 100);
    const moved = slots.apply(resolution([eni('a', { vpcId: 'vpc-2' })]), 110);
    expect(moved.added.map((e) => e.vpcId)).toEqual(['vpc-2']);
    expect(moved.retired.map((e) => e.vpcId)).toEqual(['vpc-1']);
    expect(slots.ofDevice('dev-a')?.index).toBe(1);
    expect(slots.indexOfId('a')).toBe(1);
    // MAC or addresses change under the same index (the pipeline's lookups change).
    const readdressed = slots.apply(resolution([eni('a', { vpcId: 'vpc-2', ips: ['10.0.0.9'] })]), 120);
    expect(readdressed).toEqual({ added: [], retired: [], changed: true });
    expect(slots.ofDevice('dev-a')?.index).toBe(1);
  });
});
