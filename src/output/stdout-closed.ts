/**
 * Standard output was closed by its reader (`replay --output - | head`): the command ends quietly
 * with exit 0 (main.ts). Its own module so main.ts can tell it without loading anything else.
 */
export class StdoutClosedError extends Error {
  override readonly name = 'StdoutClosedError';
  constructor() {
    super('standard output closed by its reader');
    closed = true;
  }
}

let closed = false;

/**
 * Whether standard output was found closed: whatever fails after that (work the command had
 * under way when its output went) ends the process with 0 too, not with its own error.
 */
export function stdoutWasClosed(): boolean {
  return closed;
}
