/**
 * `flowlog-agent validate --config FILE`: checks a configuration without starting anything.
 * Problems go to stderr one line each; "config OK" to stdout. Exit 0 when the file is usable
 * (warnings allowed), 1 when it is valid but `run` would refuse it on this host (capture.engine
 * ebpf where the engine cannot run), 2 when it is refused. Never prints a stack trace.
 */
import type { CommandModule } from 'yargs';
import { ConfigError, formatProblem, loadConfig } from '../config/load';
import type { AgentConfig } from '../config/types';
import { chooseEngine, EBPF_FIX } from '../capture/ebpf/engine-choice';

/** Where runValidate writes; process.stdout/stderr or a test double. */
export interface TextOutput {
  write(text: string): unknown;
}

/** Exit status of `validate` when the configuration is valid but this host cannot run it. */
export const EXIT_HOST_CANNOT_RUN = 1;

/** Exit status of `validate` when the configuration is refused (or cannot be read). */
export const EXIT_CONFIG_INVALID = 2;

/** Validates `file`, reports to `out`/`err`, returns the exit status (0 or 2). */
export function runValidate(file: string, out: TextOutput, err: TextOutput): number {
  try {
    const { config, warnings } = loadConfig(file);
    for (const w of warnings) err.write(`${formatProblem(file, w)}\n`);
    out.write(`config OK: ${file} (${config.enis.length} ENIs, ${config.flowLogs.length} flow logs)\n`);
    // The engine this host gives the ENIs' own devices (shared and overlay devices: libpcap).
    const choice = chooseEngine(config.capture);
    if (config.capture.engine === 'ebpf' && choice.engine !== 'ebpf') {
      err.write(`${file}: capture.engine: ebpf cannot run on this host (${choice.reason}): ${EBPF_FIX}\n`);
      return EXIT_HOST_CANNOT_RUN;
    }
    out.write(`capture engine: ${choice.engine} (${choice.reason})\n`);
    for (const line of deviceEngines(config, choice.engine)) out.write(`  ${line}\n`);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) err.write(`${formatProblem(file, p)}\n`);
    } else {
      // A bug in validation itself: still one line, not a stack.
      err.write(`${file}: validate config: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    return EXIT_CONFIG_INVALID;
  }
}

/** Per configured device, the engine `run` would capture it with. */
function deviceEngines(config: AgentConfig, engine: 'ebpf' | 'libpcap'): string[] {
  const own = config.enis
    .filter((e) => e.interface !== undefined)
    .map((e) => `${e.interface as string} (${e.id}): ${engine}`);
  const shared = config.capture.devices.map((d) => `${d} (shared): libpcap`);
  const overlay = (config.overlay?.devices ?? []).map((d) => `${d} (overlay): libpcap`);
  return [...own, ...shared, ...overlay];
}

export const validateCommand: CommandModule<object, { config: string }> = {
  command: 'validate',
  describe: 'Check a configuration file and list every problem',
  builder: (yargs) =>
    yargs.option('config', {
      alias: 'c',
      type: 'string',
      demandOption: true,
      describe: 'YAML configuration file',
    }),
  handler: (argv) => {
    // exitCode, not exit(): lets buffered stdout/stderr drain before the process ends.
    process.exitCode = runValidate(argv.config, process.stdout, process.stderr);
  },
};
