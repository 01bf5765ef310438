/**
 * What waits in the disk spool, read straight from the directory layout (see sink/spool.ts):
 * <stateDir>/spool/<flowLogId>/<20 digits>.seg. For `status` when the agent is not running, so
 * it only counts files and sizes and never opens, locks or repairs anything.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface SpoolDirectoryUsage {
  flowLogId: string;
  dir: string;
  segments: number;
  bytes: number;
  /** Files quarantined under corrupt/. */
  corrupt: number;
  /** Why the directory could not be read ('no spool directory' when absent). */
  problem?: string;
}

const SEGMENT_NAME = /^\d{20}\.seg$/;

/** Usage of the spool directory of each flow log, in the order given. */
export async function readSpoolUsage(stateDir: string, flowLogIds: readonly string[]): Promise<SpoolDirectoryUsage[]> {
  return Promise.all(flowLogIds.map((id) => readOne(stateDir, id)));
}

async function readOne(stateDir: string, flowLogId: string): Promise<SpoolDirectoryUsage> {
  const dir = path.join(stateDir, 'spool', flowLogId);
  const usage: SpoolDirectoryUsage = { flowLogId, dir, segments: 0, bytes: 0, corrupt: 0 };
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    usage.problem = code === 'ENOENT' ? 'no spool directory' : `read ${dir}: ${code ?? (err as Error).message}`;
    return usage;
  }
  for (const name of names) {
    if (!SEGMENT_NAME.test(name)) continue;
    // A segment may be delivered and deleted between readdir and stat: skip it.
    const st = await fs.stat(path.join(dir, name)).catch(() => undefined);
    if (!st?.isFile()) continue;
    usage.segments++;
    usage.bytes += st.size;
  }
  usage.corrupt = (await fs.readdir(path.join(dir, 'corrupt')).catch(() => [])).length;
  return usage;
}
