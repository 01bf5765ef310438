import type { AgentConfig } from '../config/types';
import { ConfigError, formatProblem, loadConfig } from '../config/load';
import { applyLogLevel } from '../log';

/**
 * Loads the `--config` file for a command: prints warnings, and on errors prints one line per
 * problem and returns null (the command exits 2). Never a stack trace.
 */
export function loadConfigOrExit(file: string, err: { write(text: string): unknown }): AgentConfig | null {
  try {
    const { config, warnings } = loadConfig(file);
    for (const w of warnings) err.write(formatProblem(file, w) + '\n');
    applyLogLevel(config.log.level);
    return config;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) err.write(formatProblem(file, p) + '\n');
      return null;
    }
    throw e;
  }
}
