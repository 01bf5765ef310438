import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BPF_OBJECT_NAME, ebpfBinding, ebpfBuildDir } from './ebpf-binding';
import { EbpfFlowEngine } from './ebpf-engine';

/** Whether the eBPF engine can run in this process on this kernel, and if not, why. */
export interface EbpfProbe {
  usable: boolean;
  /** One sentence for the `capture started` line when not usable; '' when usable. */
  reason: string;
  kernelRelease: string;
  /** TCX hooks (kernel 6.6+); without them the engine uses clsact filters. */
  tcx: boolean;
  capabilities: { bpf: boolean; netAdmin: boolean; perfmon: boolean; sysAdmin: boolean };
  /** libbpf's version as loaded ('' when the addon did not load). */
  libbpf: string;
}

const NONE = { bpf: false, netAdmin: false, perfmon: false, sysAdmin: false };

/**
 * Probes the kernel and the process (see ebpf-probe.c), then, when `loadProgram` is set, loads the
 * program itself with small maps and unloads it: the verifier's verdict is the final word on an
 * unfamiliar kernel. Never throws: every failure becomes `reason`.
 */
export function probeEbpf(options: { loadProgram?: boolean } = {}): EbpfProbe {
  let kernelRelease = '';
  try {
    const b = ebpfBinding();
    const p = b.probe();
    kernelRelease = p.kernelRelease;
    const result: EbpfProbe = {
      usable: p.usable,
      reason: p.reason,
      kernelRelease,
      tcx: p.tcx,
      capabilities: p.capabilities,
      libbpf: p.libbpf,
    };
    if (!result.usable) return result;
    const objectPath = join(ebpfBuildDir(), BPF_OBJECT_NAME);
    if (!existsSync(objectPath))
      return { ...result, usable: false, reason: `the BPF object ${objectPath} is missing (run \`npm ci\`)` };
    if (options.loadProgram === true) {
      const engine = EbpfFlowEngine.open({
        flowCapacity: 64,
        maxSlots: 4,
        maxDevices: 4,
        maxAddresses: 4,
        fragmentCapacity: 4,
      });
      void engine.close();
    }
    return result;
  } catch (err) {
    return { usable: false, reason: (err as Error).message, kernelRelease, tcx: false, capabilities: NONE, libbpf: '' };
  }
}
