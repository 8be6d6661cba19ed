// A Node script as a user of the package writes it: the same calls as the page.
import { createEngine } from 'hob-llm';

const engine = await createEngine({ model: process.argv[2], threads: 2 });
const stream = await engine.chat.completions.create({
  messages: [{ role: 'user', content: 'Name a colour.' }],
  stream: true,
  max_tokens: 8,
  temperature: 0,
});
let chat = '';
let chunks = 0;
for await (const chunk of stream) {
  chat += chunk.choices[0].delta.content ?? '';
  chunks++;
}
const completion = await engine.completions.create({ prompt: 'The capital of France', max_tokens: 8, temperature: 0 });
const { variant } = await engine.info();
await engine.unload();
process.stdout.write(
  JSON.stringify({ chat, chunks, completion: completion.choices[0].text, completionTokens: completion.usage.completion_tokens, variant }) + '\n',
);
