/**
 * The CLI's commands. Kept apart from main.ts so the bundle loader can name a code cache after
 * the command without loading the CLI: a word that is no command (a typo) shares one cache,
 * `other`, instead of leaving a file of its own behind.
 */
export const COMMAND_NAMES = [
  'replay',
  'run',
  'validate',
  'generate',
  'query',
  'status',
  'check',
  'sls',
  'spool',
  'init',
  'report',
] as const;

export type CommandName = (typeof COMMAND_NAMES)[number];
