import type { CaptureConfig } from '../../config/types';
import { probeEbpf } from './ebpf-probe';

/** How to get past an `ebpf` the host cannot run (for the one-line refusals of run and validate). */
export const EBPF_FIX =
  'remove what the reason names (grant CAP_BPF and CAP_NET_ADMIN, install libbpf1, drop capture.filter), or set capture.engine to auto or libpcap';

/** The engine the config asks for, and what this host allows. */
export interface EngineChoice {
  engine: 'ebpf' | 'libpcap';
  reason: string;
}

/**
 * `capture.engine` against the host: `libpcap` as asked; `ebpf` and `auto` probe the kernel, the
 * capabilities and the engine's files (loading the program once: the verifier has the last word).
 * A `capture.filter` needs libpcap (the program has no filter). Never throws.
 */
export function chooseEngine(capture: CaptureConfig): EngineChoice {
  if (capture.engine === 'libpcap') return { engine: 'libpcap', reason: 'capture.engine is libpcap' };
  if (capture.filter !== '')
    return { engine: 'libpcap', reason: 'capture.filter is set and the eBPF program has no filter' };
  const probe = probeEbpf({ loadProgram: true });
  if (!probe.usable) return { engine: 'libpcap', reason: `eBPF unusable: ${probe.reason}` };
  return {
    engine: 'ebpf',
    reason: `${capture.engine === 'auto' ? 'auto: ' : ''}kernel ${probe.kernelRelease}, ${probe.tcx ? 'TCX' : 'clsact'} hooks, libbpf ${probe.libbpf}`,
  };
}
