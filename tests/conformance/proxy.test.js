// proxy.test.js — the official `openai` npm client against the llmux proxy.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startStack, stop, configure, mockScript, mockReset, mockRequests } from './helpers.js';

const TOKEN = 'conf-token';
const SESSION = 'conformance';
const MOCK_TEXT =
  'Hello from the llmux mock. Dr. Ada Byte measured 3.14 meters of cable today. That is **good** news! Is there anything else I can check for you?';

let stack;
let client;

before(async () => {
  stack = await startStack(TOKEN);
  await configure(stack.proxy.port, TOKEN, SESSION, 'anthropic', { managed: true });
  await configure(stack.proxy.port, TOKEN, SESSION, 'openai', { managed: true });
  client = new OpenAI({
    baseURL: `http://127.0.0.1:${stack.proxy.port}/v1`,
    apiKey: TOKEN,
    defaultHeaders: { 'X-Llmux-Session': SESSION },
    maxRetries: 0,
  });
});

after(async () => {
  assert.equal(await stop(stack.proxy), 0, 'the proxy exits 0 on SIGTERM');
  await stop(stack.mock);
});

beforeEach(async () => mockReset(stack.mock.port));

test('chat.completions.create with model "anthropic/..." goes to Anthropic', async () => {
  const r = await client.chat.completions.create({
    model: 'anthropic/claude-haiku-4-5',
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 100,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.provider, 'anthropic');
  assert.equal(r.model, 'claude-haiku-4-5');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, MOCK_TEXT);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
  const reqs = (await mockRequests(stack.mock.port)).filter((q) => q.method === 'POST');
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0].path, '/v1/messages');
  assert.equal(reqs[0].headers['x-api-key'], 'sk-conf-anthropic');
});

test('extra body fields fallbacks and retry are honoured', async () => {
  await mockScript(stack.mock.port, [{ provider: 'anthropic', status: 500, count: 2 }]);
  const r = await client.chat.completions.create({
    model: 'anthropic/claude-haiku-4-5',
    messages: [{ role: 'user', content: 'hi' }],
    retry: { max_retries: 1, retry_delay: 0.01 },
    fallbacks: [{ provider: 'openai', model: 'gpt-4.1-mini' }],
  });
  assert.equal(r.provider, 'openai');
  assert.equal(r.model, 'gpt-4.1-mini');
  assert.equal(r.choices[0].message.content, MOCK_TEXT);
  const attempts = r.llmux.attempts.map((a) => `${a.provider}:${a.status}`);
  assert.deepEqual(attempts, ['anthropic:500', 'anthropic:500', 'openai:200']);
});

test('an unconfigured provider surfaces as the SDK\'s 400 error, with no upstream call', async () => {
  await assert.rejects(
    client.chat.completions.create({
      model: 'google/gemini-2.5-flash',
      messages: [{ role: 'user', content: 'hi' }],
    }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}`);
      assert.equal(err.status, 400);
      assert.equal(err.error?.type, 'provider_not_configured');
      return true;
    },
  );
  const reqs = (await mockRequests(stack.mock.port)).filter((q) => q.method === 'POST');
  assert.equal(reqs.length, 0);
});

test('a wrong token is the SDK\'s AuthenticationError', async () => {
  const bad = new OpenAI({ baseURL: client.baseURL, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(
    bad.chat.completions.create({ model: 'openai/gpt-4.1-mini', messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof OpenAI.AuthenticationError && err.status === 401,
  );
});

test('streaming: the SDK iterator sees the text, one provider, whole sentences', async () => {
  const stream = await client.chat.completions.create({
    model: 'anthropic/claude-haiku-4-5',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { chunk_by_sentence: true },
  });
  const pieces = [];
  const providers = new Set();
  let finish = null;
  for await (const chunk of stream) {
    providers.add(chunk.provider);
    const c = chunk.choices[0]?.delta?.content;
    if (c) pieces.push(c);
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.deepEqual([...providers], ['anthropic']);
  assert.deepEqual(pieces, [
    'Hello from the llmux mock.',
    'Dr. Ada Byte measured 3.14 meters of cable today.',
    'That is **good** news!',
    'Is there anything else I can check for you?',
  ]);
  assert.equal(finish, 'stop');
});

test('streaming: a mid-stream failure is raised inside the iteration', async () => {
  await mockScript(stack.mock.port, [{ provider: 'anthropic', drop_after_chunks: 2 }]);
  const stream = await client.chat.completions.create({
    model: 'anthropic/claude-haiku-4-5',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    fallbacks: [{ provider: 'openai', model: 'gpt-4.1-mini' }],
  });
  let text = '';
  await assert.rejects(
    (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    })(),
    (err) => {
      assert.match(String(err.message), /stream_interrupted|interrupted/);
      return true;
    },
  );
  assert.ok(text.length > 0 && MOCK_TEXT.startsWith(text), `partial text: ${text}`);
  const reqs = (await mockRequests(stack.mock.port)).filter((q) => q.method === 'POST');
  assert.equal(reqs.length, 1, 'no retry and no fallback after the first chunk');
});
