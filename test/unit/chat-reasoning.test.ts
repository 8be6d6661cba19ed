// Reasoning templates: which have a thought, whether their prompt opens it
// (the reply then starts inside it), what enable_thinking does to the
// prompt, and what a reasoning budget forces to close the thought so that
// the parser finds the answer after it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { detectReasoning, reasoningBudget } from '../../src/chat/reasoning.js';
import { buildChatPrompt } from '../../src/chat/tool-prompt.js';
import { parseReply } from '../../src/chat/tool-parser.js';
import { HISTORY, packageTemplate, template } from './chat-tool-cases.js';

const render = (file: string, enable_thinking?: boolean) =>
  buildChatPrompt(template(file), { messages: HISTORY, enable_thinking }, { bosToken: '<s>', eosToken: '</s>', addGenerationPrompt: true });

describe('which templates think, and how their thought closes', () => {
  test('<think> templates have reasoning; the others none', () => {
    for (const f of ['Qwen-Qwen3-0.6B.jinja', 'Qwen-QwQ-32B.jinja', 'deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja', 'deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja']) {
      assert.deepEqual(detectReasoning(template(f)), { open: '<think>', close: '</think>', forcedClose: '\n</think>\n\n' }, f);
    }
    for (const f of ['HuggingFaceTB-SmolLM3-3B.jinja', 'unsloth-SmolLM3-3B.jinja']) assert.equal(detectReasoning(template(f))?.forcedClose, '\n</think>\n', f);
    for (const f of ['Qwen-Qwen2.5-7B-Instruct.jinja', 'meta-llama-Llama-3.1-8B-Instruct.jinja', 'mistralai-Mistral-Nemo-Instruct-2407.jinja']) assert.equal(detectReasoning(template(f)), undefined, f);
    assert.ok(detectReasoning(packageTemplate('tokenizer-qwen3')));
  });
});

describe('prompts that open the thought', () => {
  test('the DeepSeek R1 distills and QwQ open it: the reply starts inside; Qwen 3 and SmolLM3 let the model open it', () => {
    for (const f of ['deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja', 'deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja', 'Qwen-QwQ-32B.jinja']) {
      const p = render(f);
      assert.ok(p.prompt.endsWith('<think>\n'), f);
      assert.equal(p.startsInReasoning, true, f);
      assert.equal(p.parser.startsInReasoning, true, f);
    }
    for (const f of ['Qwen-Qwen3-0.6B.jinja', 'HuggingFaceTB-SmolLM3-3B.jinja']) assert.equal(render(f).startsInReasoning, false, f);
  });

  test('enable_thinking false: templates that read it close the thought; the official distill template gets it closed by Hob', () => {
    const qwen = render('Qwen-Qwen3-0.6B.jinja', false);
    assert.ok(qwen.prompt.endsWith('<think>\n\n</think>\n\n'));
    assert.equal(qwen.startsInReasoning, false);
    // llama.cpp's copy of the Qwen distill template reads enable_thinking.
    const readsIt = render('deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja', false);
    assert.ok(readsIt.prompt.endsWith('<think>\n</think>'), readsIt.prompt.slice(-30));
    assert.equal(readsIt.startsInReasoning, false);
    // DeepSeek's own Llama distill template opens the thought whatever it is told.
    const official = render('deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja', false);
    assert.equal(official.thinkingSwitch, false);
    assert.ok(official.prompt.endsWith('<｜Assistant｜><think>\n</think>\n\n'), official.prompt.slice(-40));
    assert.equal(official.startsInReasoning, false);
    assert.deepEqual(parseReply('Paris.', official.parser), { role: 'assistant', content: 'Paris.' });
  });

  test('without a generation prompt nothing is open', () => {
    const p = buildChatPrompt(template('Qwen-QwQ-32B.jinja'), { messages: HISTORY }, { bosToken: '', eosToken: '', addGenerationPrompt: false });
    assert.equal(p.startsInReasoning, false);
  });
});

describe('the reasoning budget', () => {
  test('what the generation loop counts and forces, per family', () => {
    const qwen = render('Qwen-Qwen3-0.6B.jinja');
    assert.deepEqual(reasoningBudget(qwen.reasoning!, qwen.startsInReasoning, 256), {
      start: '<think>',
      startsInside: false,
      end: '</think>',
      forced: '\n</think>\n\n',
      maxTokens: 256,
    });
    const r1 = render('deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja');
    const b = reasoningBudget(r1.reasoning!, r1.startsInReasoning, 64, 'Time is up, so I answer now.');
    assert.equal(b.startsInside, true);
    assert.equal(b.forced, 'Time is up, so I answer now.\n</think>\n\n');
    assert.equal(reasoningBudget(render('HuggingFaceTB-SmolLM3-3B.jinja').reasoning!, false, 8).forced, '\n</think>\n');
  });

  test('a thought cut by the forced close parses into reasoning and the answer after it', () => {
    const qwen = render('Qwen-Qwen3-0.6B.jinja');
    const forced = reasoningBudget(qwen.reasoning!, false, 16).forced;
    assert.deepEqual(parseReply('<think>\nFirst, the user asks' + forced + 'Paris.', qwen.parser), {
      role: 'assistant',
      content: 'Paris.',
      reasoning_content: 'First, the user asks',
    });
    const r1 = render('deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja');
    const withMessage = reasoningBudget(r1.reasoning!, true, 16, 'Time is up.').forced;
    assert.deepEqual(parseReply('Hmm, so' + withMessage + 'Paris.', r1.parser), {
      role: 'assistant',
      content: 'Paris.',
      reasoning_content: 'Hmm, soTime is up.',
    });
  });
});
