// How the hob process ends when something goes wrong outside a command's own
// error handling. A reader that closed our stdout (`hob ... | head`) ends the
// command quietly, as Unix tools do; any other uncaught error is one line on
// stderr with its code and exit status 1, never a stack trace printed
// through a line of the minified wasm glue.
import { describeError } from './model.js';

function isBrokenPipe(e: unknown): boolean {
  return (e as { code?: string } | undefined)?.code === 'EPIPE';
}

/** One line on stderr, then exit 1; a broken pipe exits 0 without a word. */
export function exitOnUncaught(e: unknown): never {
  if (isBrokenPipe(e)) process.exit(0);
  try {
    process.stderr.write(`hob: ${describeError(e)}\n`);
  } catch {
    // stderr is gone too: the status is all that is left.
  }
  process.exit(1);
}

/** Installs the guards; call before anything else runs. */
export function installProcessGuards(): void {
  process.stdout.on('error', exitOnUncaught);
  // Nothing can be reported once stderr fails.
  process.stderr.on('error', (e) => process.exit(isBrokenPipe(e) ? 0 : 1));
  process.on('uncaughtException', exitOnUncaught);
  process.on('unhandledRejection', exitOnUncaught);
}
