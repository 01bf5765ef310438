/**
 * THE layout the host and the packet kernel share in linear memory for each flow table: the
 * table descriptor FlowTable.exportTo writes before a kernel call and importFrom reads back
 * after it, in 32-bit words from the descriptor's start. The AssemblyScript side
 * (assembly/flow-update.ts) names the same fields `T_<NAME>` in byte offsets, four times these;
 * test/packet/wasm/kernel-layout.test.ts checks the two against each other, so a field moved on
 * one side only fails a test instead of corrupting tables.
 */
export const TABLE_DESCRIPTOR = {
  /** u32 address of the index (i32 slots: 7-bit tag << 24 | entry + 1). */
  index: 0,
  mask: 1,
  /** Flows the index holds before the host must double it. */
  growAt: 2,
  /** Flows in the table (written back). */
  count: 3,
  capacity: 4,
  /** u32 address of the entries (8 u32 each). */
  entries: 5,
  /** u32 address of the IPv6 side array (8 u32 a slot). */
  v6: 6,
  /** IPv6 slots in use (written back). */
  v6Count: 7,
  /** The base second, a float64 over words 8 and 9 (written back). */
  baseSec: 8,
  /** u32 address of the flows per ENI index (i32 each), FlowTable.setShare. */
  eniFlows: 10,
  /** ENI indexes it has (0: none, every flow from the pool). */
  eniCount: 11,
  /** Flows each ENI is guaranteed. */
  guaranteed: 12,
  /** The guarantees together. */
  reserved: 13,
  /** Flows beyond their ENI's guarantee (written back). */
  excess: 14,
} as const;

/** Words of one descriptor (the kernel's TABLE_BYTES / 4). */
export const TABLE_DESCRIPTOR_WORDS = 16;
