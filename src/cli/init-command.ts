/**
 * `flowlog-agent init [--config FILE] [--force]`: writes a configuration from this host's taps,
 * veths and bridges for the operator to edit (ids are PLACEHOLDER, which `validate` refuses).
 * Devices come from iproute2 (`ip -details -json addr show`).
 * Refuses to replace an existing file unless --force. Exit 0 written, 2 refused or not written.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import type { CommandModule } from 'yargs';
import { PLACEHOLDER } from '../config/placeholder';
import { renderInitConfig } from './init-config-text';
import { listHostDevices, type HostDevice } from '../enrich/host-devices';
import type { TextOutput } from './validate-command';

export const DEFAULT_CONFIG_PATH = '/etc/flowlog-agent/agent.yaml';

export interface InitOptions {
  file: string;
  force: boolean;
  stateDir?: string;
}

/** Writes the config; returns the exit status. */
export function runInit(options: InitOptions, out: TextOutput, err: TextOutput): number {
  const { file, force } = options;
  if (existsSync(file) && !force) {
    err.write(`init: ${file} exists: not replaced (--force replaces it)\n`);
    return 2;
  }
  let devices: HostDevice[];
  try {
    devices = listHostDevices();
  } catch (e) {
    err.write(`init: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const text = renderInitConfig(devices, {
    host: hostname(),
    now: new Date(),
    stateDir: options.stateDir ?? '/var/lib/flowlog-agent',
    file,
  });
  try {
    mkdirSync(dirname(file), { recursive: true });
    // Whole or not at all: a reader (the daemon's reload) never sees half a file.
    const tmp = `${file}.init-${process.pid}`;
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, file);
  } catch (e) {
    err.write(`init: write ${file}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const enis = devices.filter((d) => d.kind !== 'bridge');
  const bridges = devices.filter((d) => d.kind === 'bridge');
  const listed = enis.length > 0 ? enis.map((d) => `${d.name} (${d.kind})`).join(', ') : 'none found: one example ENI';
  out.write(
    `wrote ${file}: ENIs ${listed}${bridges.length > 0 ? `; bridges ${bridges.map((b) => b.name).join(', ')} (commented)` : ''}\n`,
  );
  out.write(`replace every ${PLACEHOLDER} in it, then: flowlog-agent validate --config ${file}\n`);
  return 0;
}

export const initCommand: CommandModule<object, { config: string; force: boolean }> = {
  command: 'init',
  describe: "Write a configuration from this host's taps, veths and bridges, for you to edit",
  builder: (yargs) =>
    yargs
      .option('config', { alias: 'c', type: 'string', default: DEFAULT_CONFIG_PATH, describe: 'File to write' })
      .option('force', { type: 'boolean', default: false, describe: 'Replace the file if it exists' }),
  handler: (argv) => {
    process.exitCode = runInit({ file: argv.config, force: argv.force }, process.stdout, process.stderr);
  },
};
