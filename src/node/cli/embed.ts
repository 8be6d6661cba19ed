// hob embed and hob rerank: the embeddings and rerank scores the API gives
// (src/runtime/embeddings.ts), printed as JSON in OpenAI's and llama.cpp's
// /rerank shapes.
import { readFile } from 'node:fs/promises';

import { Session } from '../../core/session.js';
import { embeddingList, rerankResponse } from '../../api/vectors.js';
import { embedTexts, rerankScores } from '../../runtime/embeddings.js';
import { modelOptions, num, parseCommand, UsageError } from './args.js';
import { openModel } from './model.js';

/** Repeated --text / --document values and the lines of -f, in order. */
async function texts(given: string[] | undefined, file: string | undefined, what: string): Promise<string[]> {
  const out = [...(given ?? [])];
  if (file !== undefined) {
    // One input a line; blank lines are skipped, as they embed nothing.
    for (const line of (await readFile(file, 'utf8')).split(/\r?\n/)) if (line.trim() !== '') out.push(line);
  }
  if (out.length === 0) throw new UsageError(`give ${what}`);
  return out;
}

export async function embedCommand(args: string[]): Promise<void> {
  const { values: o, positionals } = parseCommand(args, {
    ...modelOptions,
    text: { type: 'string', multiple: true },
    file: { type: 'string', short: 'f' },
    dimensions: { type: 'string' },
    pooling: { type: 'string' },
    'no-normalize': { type: 'boolean' },
  });
  const inputs = await texts(o.text as unknown as string[] | undefined, o.file, '--text T (repeatable) or -f FILE');
  const dims = o.dimensions === undefined ? undefined : num(o.dimensions, 'dimensions', 0, { min: 1, integer: true });
  const pooling = o.pooling;
  if (pooling !== undefined && pooling !== 'mean' && pooling !== 'cls' && pooling !== 'last') {
    throw new UsageError(`--pooling must be mean, cls or last, got "${pooling}"`);
  }
  const nCtx = num(o['ctx-size'], 'ctx-size', 0, { min: 0, integer: true });
  const m = await openModel(o, positionals, { contextSize: nCtx });
  const session = Session.create(m.model, { nCtx, nThreads: m.threads });
  try {
    const r = await embedTexts(m.model, session, inputs, { dimensions: dims, pooling, normalize: !o['no-normalize'] });
    process.stdout.write(JSON.stringify(embeddingList(r, m.model.info.name || m.path)) + '\n');
  } finally {
    session.free();
    m.close();
  }
}

export async function rerankCommand(args: string[]): Promise<void> {
  const { values: o, positionals } = parseCommand(args, {
    ...modelOptions,
    query: { type: 'string', short: 'q' },
    document: { type: 'string', multiple: true },
    file: { type: 'string', short: 'f' },
    'top-n': { type: 'string' },
    'return-documents': { type: 'boolean' },
  });
  if (o.query === undefined) throw new UsageError('--query is required');
  const documents = await texts(o.document as unknown as string[] | undefined, o.file, '--document D (repeatable) or -f FILE');
  const topN = o['top-n'] === undefined ? undefined : num(o['top-n'], 'top-n', 0, { min: 0, integer: true });
  const nCtx = num(o['ctx-size'], 'ctx-size', 0, { min: 0, integer: true });
  const m = await openModel(o, positionals, { contextSize: nCtx });
  const session = Session.create(m.model, { nCtx, nThreads: m.threads });
  try {
    const r = await rerankScores(m.model, session, o.query, documents);
    const req = { query: o.query, documents, top_n: topN, return_documents: o['return-documents'] };
    process.stdout.write(JSON.stringify(rerankResponse(req, r, m.model.info.name || m.path)) + '\n');
  } finally {
    session.free();
    m.close();
  }
}
