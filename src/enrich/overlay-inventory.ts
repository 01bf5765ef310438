import type { PacketView } from '../packet/decode/packet-view';
import type { EniConfig, OverlayVpcConfig } from '../config/types';
import { EniInventory } from './eni-inventory';

/**
 * Which ENI a packet taken out of an overlay tunnel belongs to: the VNI names the VPC, and among
 * that VPC's ENIs the inner MAC, else the inner address, names the ENI (as EniInventory does for
 * one host). VPCs may reuse each other's addresses, so every VNI gets an inventory of its own.
 *
 * Per packet: a probe of a small open-addressing table of VNIs, then the VPC's inventory; typed
 * arrays only, no allocation. Immutable, built from a config snapshot like EniInventory.
 */
export class OverlayInventory {
  /** [vni + 1, slot] per table slot; 0: empty. */
  private readonly vniKeys: Int32Array;
  private readonly vniMask: number;
  /** Per slot: the VPC's ENIs, and each one's index in the whole `enis` list. */
  private readonly inventories: EniInventory[] = [];
  private readonly globals: Int32Array[] = [];
  /** Packets whose VNI names no configured VPC. */
  unknownVni = 0;

  constructor(enis: readonly EniConfig[], vpcs: readonly OverlayVpcConfig[]) {
    let slots = 4;
    while (slots < vpcs.length * 2) slots <<= 1;
    this.vniMask = slots - 1;
    this.vniKeys = new Int32Array(slots * 2);
    vpcs.forEach((vpc, k) => {
      const members = enis.flatMap((e, i) => (e.vpcId === vpc.vpcId ? [i] : []));
      this.inventories.push(new EniInventory(members.map((i) => enis[i])));
      this.globals.push(Int32Array.from(members));
      let slot = hashVni(vpc.vni) & this.vniMask;
      while (this.vniKeys[slot * 2] !== 0) slot = (slot + 1) & this.vniMask;
      this.vniKeys[slot * 2] = vpc.vni + 1;
      this.vniKeys[slot * 2 + 1] = k;
    });
  }

  /** The VPC slot of `vni` for sourceEni/destinationEni, or -1 (counted in `unknownVni`). */
  slotOf(vni: number): number {
    const keys = this.vniKeys;
    let slot = hashVni(vni) & this.vniMask;
    for (;;) {
      const key = keys[slot * 2];
      if (key === 0) {
        this.unknownVni++;
        return -1;
      }
      if (key === vni + 1) return keys[slot * 2 + 1];
      slot = (slot + 1) & this.vniMask;
    }
  }

  /** The ENI (index in the whole list) the inner packet leaves, among VPC `slot`'s; or -1. */
  sourceEni(slot: number, v: PacketView): number {
    const local = this.inventories[slot].sourceEni(v);
    return local < 0 ? -1 : this.globals[slot][local];
  }

  /** The ENI the inner packet enters, among VPC `slot`'s; or -1. */
  destinationEni(slot: number, v: PacketView): number {
    const local = this.inventories[slot].destinationEni(v);
    return local < 0 ? -1 : this.globals[slot][local];
  }
}

function hashVni(vni: number): number {
  const h = Math.imul(vni ^ 0x9e3779b9, 0x85ebca6b);
  return h ^ (h >>> 15);
}
