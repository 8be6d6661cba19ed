// The `hob` command line: chat, complete, tokenize, inspect, fit and bench with
// the same wasm engine as the browser. Each command lives in src/node/cli/.
// Any error is one line on stderr and exit status 1.
import { commandHelp, usage, UsageError } from './cli/args.js';
import { installProcessGuards } from './cli/process-guard.js';
import { benchCommand } from './cli/bench.js';
import { chatCommand } from './cli/chat.js';
import { completeCommand, inspectCommand, tokenizeCommand } from './cli/commands.js';
import { embedCommand, rerankCommand } from './cli/embed.js';
import { fitCommand } from './cli/fit.js';
import { describeError } from './cli/model.js';

installProcessGuards();

const commands: Record<string, (args: string[]) => Promise<void>> = {
  run: chatCommand,
  chat: chatCommand,
  complete: completeCommand,
  tokenize: tokenizeCommand,
  embed: embedCommand,
  rerank: rerankCommand,
  inspect: inspectCommand,
  fit: fitCommand,
  bench: benchCommand,
};

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') {
    process.stdout.write(usage);
    return;
  }
  if (command === 'help') {
    process.stdout.write(commandHelp[rest[0]] ?? usage);
    return;
  }
  if (command === '--version' || command === '-v') {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`hob ${pkg.version}\n`);
    return;
  }
  const run = commands[command];
  if (!run) throw new UsageError(`unknown command "${command}"`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp[command]);
    return;
  }
  await run(rest);
}

// No process.exit on success: it would cut off output still queued for a
// pipe. The engine's threads do not hold the process open.
main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`hob: ${describeError(e)}\n`);
  if (e instanceof UsageError) process.stderr.write('run "hob --help" for usage\n');
  process.exitCode = 1;
});
