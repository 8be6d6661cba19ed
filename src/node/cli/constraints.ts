// The CLI's structured-output flags, llama.cpp's names: --grammar and
// --grammar-file (GBNF), -j/--json-schema and --json-schema-file, and
// --tools FILE (an OpenAI tools array) with --tool-choice. They become the
// API's request fields, so `hob` constrains output exactly as the API does.
import { readFile } from 'node:fs/promises';

import type { ConstraintParams, JsonSchema, ToolChoice, ToolDefinition } from '../../shared/types.js';
import { num, UsageError, type constraintOptions } from './args.js';

export interface CliConstraints extends ConstraintParams {
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice;
  enable_thinking?: boolean;
  max_reasoning_tokens?: number;
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`--${flag}: cannot read ${path}: ${(e as Error).message}`);
  }
}

function parseJson(text: string, flag: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--${flag} is not JSON: ${(e as Error).message}`);
  }
}

/** The request fields the flags ask for (files read, JSON parsed). */
export async function constraintParams(o: Partial<Record<keyof typeof constraintOptions, string>>): Promise<CliConstraints> {
  const out: CliConstraints = {};
  const given = (['grammar', 'grammar-file', 'json-schema', 'json-schema-file'] as const).filter((k) => o[k] !== undefined);
  if (given.length > 1) throw new UsageError(`give one of --${given.join(', --')}`);
  if (o.grammar !== undefined) out.grammar = o.grammar;
  if (o['grammar-file'] !== undefined) out.grammar = await readText(o['grammar-file'], 'grammar-file');
  const schemaText = o['json-schema'] ?? (o['json-schema-file'] !== undefined ? await readText(o['json-schema-file'], 'json-schema-file') : undefined);
  if (schemaText !== undefined) {
    const schema = parseJson(schemaText, o['json-schema'] !== undefined ? 'json-schema' : 'json-schema-file') as JsonSchema;
    out.response_format = { type: 'json_schema', json_schema: { name: 'cli', schema } };
  }
  if (o.tools !== undefined) {
    const tools = parseJson(await readText(o.tools, 'tools'), 'tools');
    if (!Array.isArray(tools)) throw new UsageError('--tools must name a JSON file holding an array of tools');
    out.tools = tools as ToolDefinition[];
  }
  if (o['reasoning-budget'] !== undefined) {
    const n = num(o['reasoning-budget'], 'reasoning-budget', -1, { min: -1, integer: true });
    if (n === 0) out.enable_thinking = false;
    else if (n > 0) out.max_reasoning_tokens = n;
  }
  const choice = o['tool-choice'];
  if (choice !== undefined) {
    if (!out.tools) throw new UsageError('--tool-choice needs --tools');
    out.tool_choice = choice === 'auto' || choice === 'none' || choice === 'required' ? choice : { type: 'function', function: { name: choice } };
  }
  return out;
}
