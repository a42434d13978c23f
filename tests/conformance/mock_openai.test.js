// mock_openai.test.js — the official `openai` npm client (OpenAI and AzureOpenAI) against
// `llmux mock`: the mock must speak a wire format this SDK parses, for plain answers, streams,
// tool calls, scripted errors and broken streams.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { AzureOpenAI } from 'openai';
import { stop, mockScript, mockReset, mockRequests } from './helpers.js';
import {
  MOCK_TEXT, KEYS, T, SDK_TIMEOUT_MS, WEATHER_ARGS, startMock, drain, mockWords,
  defaultTextFromHeader,
} from './mock_common.js';

let mock;
let openai;
let azure;

const MODEL = 'gpt-4o-mini';
const DEPLOYMENT = 'gpt-4o-deploy';
const API_VERSION = '2024-10-21';
const HI = [{ role: 'user', content: 'Hi there' }];

// A strict function tool, so the SDK's own helpers parse the arguments (parsed_arguments).
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather forecast for a city',
    strict: true,
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer' },
        hourly: { type: 'boolean' },
      },
      required: ['city', 'unit', 'days', 'hourly'],
      additionalProperties: false,
    },
  },
};
const OTHER_TOOL = {
  type: 'function',
  function: { name: 'get_time', parameters: { type: 'object', properties: {} } },
};

function client(opts = {}) {
  return new OpenAI({
    baseURL: `http://127.0.0.1:${mock.port}/v1`,
    apiKey: KEYS.openai,
    maxRetries: 0,
    timeout: SDK_TIMEOUT_MS,
    ...opts,
  });
}

function azureClient(opts = {}) {
  return new AzureOpenAI({
    endpoint: `http://127.0.0.1:${mock.port}`,
    apiKey: KEYS.azure,
    apiVersion: API_VERSION,
    deployment: DEPLOYMENT,
    maxRetries: 0,
    timeout: SDK_TIMEOUT_MS,
    ...opts,
  });
}

async function completions() {
  return (await mockRequests(mock.port)).filter((r) => r.method === 'POST');
}

before(async () => {
  mock = await startMock();
  openai = client();
  azure = azureClient();
});

after(async () => {
  assert.equal(await stop(mock), 0, 'the mock exits 0 on SIGTERM');
});

beforeEach(async () => mockReset(mock.port));

test('MOCK_TEXT is the mock\'s LLMUX__MOCK_DEFAULT_TEXT', () => {
  assert.equal(defaultTextFromHeader(), MOCK_TEXT);
});

// --- OpenAI: plain answers ---------------------------------------------------------------

test('openai: chat.completions.create parses the answer, usage and finish_reason', T, async () => {
  const r = await openai.chat.completions.create({ model: MODEL, messages: HI });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.model, MODEL);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, MOCK_TEXT);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage.prompt_tokens > 0, 'prompt_tokens > 0');
  assert.ok(r.usage.completion_tokens > 0, 'completion_tokens > 0');
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  const reqs = await completions();
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0].path, '/v1/chat/completions');
  assert.equal(reqs[0].headers.authorization, `Bearer ${KEYS.openai}`);
  assert.equal(reqs[0].status, 200);
});

test('openai: withResponse() exposes the mock\'s x-request-id', T, async () => {
  const { data, response, request_id } = await openai.chat.completions
    .create({ model: MODEL, messages: HI })
    .withResponse();
  assert.equal(data.choices[0].message.content, MOCK_TEXT);
  assert.equal(response.status, 200);
  assert.match(request_id, /^req_/);
});

test('openai: max_completion_tokens cuts the answer with finish_reason "length"', T, async () => {
  const r = await openai.chat.completions.create({
    model: MODEL, messages: HI, max_completion_tokens: 5,
  });
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.ok(MOCK_TEXT.startsWith(r.choices[0].message.content));
  assert.ok(r.choices[0].message.content.length < MOCK_TEXT.length);
  assert.ok(r.usage.completion_tokens <= 5);
});

test('openai: a scripted text comes back as is', T, async () => {
  await mockScript(mock.port, [{ provider: 'openai', text: 'Scripted. Answer.' }]);
  const r = await openai.chat.completions.create({ model: MODEL, messages: HI });
  assert.equal(r.choices[0].message.content, 'Scripted. Answer.');
});

test('openai: models.list() iterates the mock\'s model list', T, async () => {
  const ids = [];
  for await (const m of openai.models.list()) ids.push(m.id);
  assert.ok(ids.length > 0);
  assert.ok(ids.every((id) => typeof id === 'string' && id.length > 0));
});

// --- OpenAI: streams ---------------------------------------------------------------------

test('openai: stream: true with include_usage — text, finish_reason, usage chunk', T, async () => {
  const stream = await openai.chat.completions.create({
    model: MODEL, messages: HI, stream: true, stream_options: { include_usage: true },
  });
  const { items: chunks, error } = await drain(stream);
  assert.equal(error, null);
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, MOCK_TEXT);
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'one id for every chunk');
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const finishes = chunks.filter((c) => c.choices[0]?.finish_reason);
  assert.equal(finishes.length, 1);
  assert.equal(finishes[0].choices[0].finish_reason, 'stop');
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
  assert.ok(last.usage.prompt_tokens > 0 && last.usage.completion_tokens > 0);
  assert.ok(chunks.slice(0, -1).every((c) => c.usage == null), 'usage only on the last chunk');
  const contentChunks = chunks.filter((c) => c.choices[0]?.delta?.content);
  assert.ok(contentChunks.length > 1, 'the text arrives in several chunks');
});

test('openai: stream without include_usage ends without a usage chunk', T, async () => {
  const stream = await openai.chat.completions.create({ model: MODEL, messages: HI, stream: true });
  const { items: chunks, error } = await drain(stream);
  assert.equal(error, null);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), MOCK_TEXT);
  assert.ok(chunks.every((c) => c.usage == null && c.choices.length === 1));
});

test('openai: chat.completions.stream() helper — content events and finalChatCompletion()', T, async () => {
  const stream = openai.chat.completions.stream({
    model: MODEL, messages: HI, stream_options: { include_usage: true },
  });
  const deltas = [];
  let contentDone = null;
  stream.on('content.delta', (e) => deltas.push(e.delta));
  stream.on('content.done', (e) => { contentDone = e.content; });
  const final = await stream.finalChatCompletion();
  assert.equal(final.choices[0].message.content, MOCK_TEXT);
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.ok(final.usage.prompt_tokens > 0 && final.usage.completion_tokens > 0);
  assert.equal(deltas.join(''), MOCK_TEXT);
  assert.deepEqual(deltas, mockWords(), 'one delta per word, blanks before it');
  assert.equal(contentDone, MOCK_TEXT);
  assert.equal(await stream.finalContent(), MOCK_TEXT);
});

test('openai: split_at decides the stream deltas', T, async () => {
  await mockScript(mock.port, [{ text: 'Hi. There. Bye.', split_at: [3, 10] }]);
  const stream = await openai.chat.completions.create({ model: MODEL, messages: HI, stream: true });
  const { items, error } = await drain(stream);
  assert.equal(error, null);
  const deltas = items.map((c) => c.choices[0]?.delta?.content).filter(Boolean);
  assert.deepEqual(deltas, ['Hi.', ' There.', ' Bye.']);
});

// --- OpenAI: tool calls ------------------------------------------------------------------

test('openai: a scripted tool call parses as a function call (create and parse())', T, async () => {
  await mockScript(mock.port, [
    { tool_call: { name: 'get_weather', arguments: WEATHER_ARGS }, count: 2 },
  ]);
  const r = await openai.chat.completions.create({
    model: MODEL, messages: HI, tools: [OTHER_TOOL, WEATHER_TOOL],
  });
  const msg = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(msg.content, null);
  assert.equal(msg.tool_calls.length, 1);
  const call = msg.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.match(call.id, /^call_/);
  assert.equal(call.function.name, 'get_weather');
  assert.equal(typeof call.function.arguments, 'string');
  assert.deepEqual(JSON.parse(call.function.arguments), WEATHER_ARGS);

  // parse(): the SDK itself parses a strict tool's arguments
  const p = await openai.chat.completions.parse({
    model: MODEL, messages: HI, tools: [WEATHER_TOOL],
  });
  assert.deepEqual(p.choices[0].message.tool_calls[0].function.parsed_arguments, WEATHER_ARGS);
});

test('openai: tool_call: true names the first offered tool', T, async () => {
  await mockScript(mock.port, [{ tool_call: true }]);
  const r = await openai.chat.completions.create({
    model: MODEL, messages: HI, tools: [OTHER_TOOL, WEATHER_TOOL],
  });
  const call = r.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_time');
  assert.equal(typeof JSON.parse(call.function.arguments), 'object');
});

test('openai: a tool-call step without tools offered answers with text', T, async () => {
  await mockScript(mock.port, [{ tool_call: { name: 'get_weather' } }]);
  const r = await openai.chat.completions.create({ model: MODEL, messages: HI });
  assert.equal(r.choices[0].message.content, MOCK_TEXT);
  assert.equal(r.choices[0].message.tool_calls, undefined);
});

test('openai: a streamed tool call — argument deltas join to the arguments', T, async () => {
  await mockScript(mock.port, [{ tool_call: { name: 'get_weather', arguments: WEATHER_ARGS, id: 'call_fixed1' } }]);
  const stream = await openai.chat.completions.create({
    model: MODEL, messages: HI, tools: [WEATHER_TOOL], stream: true,
    stream_options: { include_usage: true },
  });
  const { items, error } = await drain(stream);
  assert.equal(error, null);
  const deltas = items.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
  assert.ok(deltas.length >= 2, 'the tool call arrives in several deltas');
  assert.equal(deltas[0].index, 0);
  assert.equal(deltas[0].id, 'call_fixed1');
  assert.equal(deltas[0].type, 'function');
  assert.equal(deltas[0].function.name, 'get_weather');
  assert.ok(deltas.slice(1).every((d) => d.index === 0 && d.id === undefined));
  const args = deltas.map((d) => d.function?.arguments ?? '').join('');
  assert.deepEqual(JSON.parse(args), WEATHER_ARGS);
  const fin = items.find((c) => c.choices[0]?.finish_reason);
  assert.equal(fin.choices[0].finish_reason, 'tool_calls');
  assert.ok(items.at(-1).usage.completion_tokens > 0);
});

test('openai: stream() helper — tool_calls.function.arguments.done and finalChatCompletion()', T, async () => {
  await mockScript(mock.port, [{ tool_call: { name: 'get_weather', arguments: WEATHER_ARGS } }]);
  const stream = openai.chat.completions.stream({
    model: MODEL, messages: HI, tools: [WEATHER_TOOL],
  });
  const done = [];
  stream.on('tool_calls.function.arguments.done', (e) => done.push(e));
  const final = await stream.finalChatCompletion();
  assert.equal(done.length, 1);
  assert.equal(done[0].name, 'get_weather');
  assert.deepEqual(done[0].parsed_arguments, WEATHER_ARGS);
  const call = final.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(call.function.parsed_arguments, WEATHER_ARGS);
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
});

test('openai: a tool round trip (assistant tool_calls + tool message) is accepted', T, async () => {
  await mockScript(mock.port, [{ tool_call: { name: 'get_weather', arguments: WEATHER_ARGS } }]);
  const first = await openai.chat.completions.create({ model: MODEL, messages: HI, tools: [WEATHER_TOOL] });
  const call = first.choices[0].message.tool_calls[0];
  const second = await openai.chat.completions.create({
    model: MODEL,
    tools: [WEATHER_TOOL],
    messages: [
      ...HI,
      first.choices[0].message,
      { role: 'tool', tool_call_id: call.id, content: '{"temp":21}' },
    ],
  });
  assert.equal(second.choices[0].message.content, MOCK_TEXT);
});

// --- OpenAI: errors ----------------------------------------------------------------------

async function rejectsWith(promise, Cls, status, check = () => {}) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Cls, `expected ${Cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, status);
    check(err);
    return true;
  });
}

test('openai: scripted 429 is RateLimitError with the provider message and retry headers', T, async () => {
  await mockScript(mock.port, [{ provider: 'openai', status: 429, retry_after: 7, retry_after_ms: 7000 }]);
  await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: HI }),
    OpenAI.RateLimitError, 429, (err) => {
      assert.equal(err.code, 'rate_limit_exceeded');
      assert.ok(err.error.message.length > 0);
      assert.ok(err.message.includes(err.error.message), 'the SDK message carries the provider message');
      assert.equal(err.headers.get('retry-after'), '7');
      assert.equal(err.headers.get('retry-after-ms'), '7000');
      assert.match(err.requestID, /^req_/);
    });
  assert.equal((await completions()).length, 1, 'maxRetries 0: one request');
});

test('openai: a wrong key is AuthenticationError invalid_api_key', T, async () => {
  await rejectsWith(client({ apiKey: 'sk-wrong' }).chat.completions.create({ model: MODEL, messages: HI }),
    OpenAI.AuthenticationError, 401, (err) => {
      assert.equal(err.code, 'invalid_api_key');
      assert.match(err.error.message, /Incorrect API key/);
      assert.ok(!err.message.includes('sk-wrong'), 'the key is not echoed whole');
    });
});

test('openai: scripted 401, 404, 500 and 503 are the SDK\'s own error classes', T, async () => {
  const cases = [
    [401, OpenAI.AuthenticationError],
    [404, OpenAI.NotFoundError],
    [500, OpenAI.InternalServerError],
    [503, OpenAI.InternalServerError],
  ];
  for (const [status, Cls] of cases) {
    await mockScript(mock.port, [{ status }]);
    await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: HI }), Cls, status,
      (err) => assert.ok(typeof err.error?.message === 'string' && err.error.message.length > 0));
  }
});

test('openai: a request the real API refuses is BadRequestError naming the parameter', T, async () => {
  await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: HI, temperature: 3 }),
    OpenAI.BadRequestError, 400, (err) => {
      assert.equal(err.param, 'temperature');
      assert.match(err.error.message, /temperature/);
    });
});

test('openai: a custom error body is what the SDK reports', T, async () => {
  const body = { error: { message: 'Custom outage', type: 'server_error', code: 'custom_code', param: null } };
  await mockScript(mock.port, [{ status: 502, body }]);
  await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: HI }),
    OpenAI.InternalServerError, 502, (err) => {
      assert.equal(err.code, 'custom_code');
      assert.match(err.message, /Custom outage/);
    });
});

test('openai: with maxRetries the SDK honours the mock\'s retry-after-ms and succeeds', T, async () => {
  await mockScript(mock.port, [{ provider: 'openai', status: 503, retry_after_ms: 150 }]);
  const t0 = Date.now();
  const r = await client({ maxRetries: 1 }).chat.completions.create({ model: MODEL, messages: HI });
  const ms = Date.now() - t0;
  assert.equal(r.choices[0].message.content, MOCK_TEXT);
  assert.ok(ms >= 140, `waited ${ms} ms`);
  const reqs = await completions();
  assert.deepEqual(reqs.map((q) => q.status), [503, 200]);
  assert.equal(reqs[1].headers['x-stainless-retry-count'], '1');
});

test('openai: an in-stream error event surfaces as APIError inside the iteration', T, async () => {
  await mockScript(mock.port, [{ error_event_after_chunks: 3 }]);
  const stream = await openai.chat.completions.create({ model: MODEL, messages: HI, stream: true });
  const { items, error } = await drain(stream);
  assert.ok(error instanceof OpenAI.APIError, `got ${error?.constructor?.name}: ${error?.message}`);
  assert.ok(error.error?.message?.length > 0, 'the provider message is readable');
  assert.ok(error.message.includes(error.error.message));
  const text = items.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, mockWords().slice(0, 3).join(''), 'the three chunks before the error arrived');
});

test('openai: stream() helper rejects finalChatCompletion() on an in-stream error', T, async () => {
  await mockScript(mock.port, [{ error_event_after_chunks: 2 }]);
  const stream = openai.chat.completions.stream({ model: MODEL, messages: HI });
  let errorEvent = null;
  stream.on('error', (e) => { errorEvent = e; });
  await assert.rejects(stream.finalChatCompletion(), OpenAI.APIError);
  assert.ok(errorEvent instanceof OpenAI.APIError);
});

test('openai: a dropped stream surfaces as an error after the chunks that arrived', T, async () => {
  await mockScript(mock.port, [{ drop_after_chunks: 2 }]);
  const stream = await openai.chat.completions.create({ model: MODEL, messages: HI, stream: true });
  const { items, error } = await drain(stream);
  // the SDK does not wrap a body cut mid-read: fetch's own TypeError ("terminated") comes out
  assert.ok(error instanceof TypeError, `got ${error?.constructor?.name}: ${error?.message}`);
  assert.match(error.message, /terminated/);
  const text = items.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, mockWords().slice(0, 2).join(''));
  assert.ok(!items.some((c) => c.choices[0]?.finish_reason), 'no finish chunk arrived');
  const [req] = await completions();
  assert.equal(req.dropped, true);
});

test('openai: a body cut short (drop_after_chunks 0, non-streaming) is a connection error', T, async () => {
  await mockScript(mock.port, [{ drop_after_chunks: 0 }]);
  await assert.rejects(openai.chat.completions.create({ model: MODEL, messages: HI }), (err) => {
    assert.ok(err instanceof TypeError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.match(err.message, /terminated/);
    return true;
  });
});

test('openai: a stream that ends without finish chunk and [DONE] — stream() helper rejects', T, async () => {
  // the plain iterator ends quietly (the SDK does not require [DONE]); the helper notices
  await mockScript(mock.port, [{ malformed: 'truncated', count: 2 }]);
  const stream = await openai.chat.completions.create({ model: MODEL, messages: HI, stream: true });
  const { items, error } = await drain(stream);
  assert.equal(error, null);
  assert.equal(items.map((c) => c.choices[0]?.delta?.content ?? '').join(''), MOCK_TEXT);
  assert.ok(!items.some((c) => c.choices[0]?.finish_reason));
  await assert.rejects(
    openai.chat.completions.stream({ model: MODEL, messages: HI }).finalChatCompletion(),
    /missing finish_reason/,
  );
});

test('openai: events without blank lines between them (malformed sse) fail to parse', T, async () => {
  await mockScript(mock.port, [{ malformed: 'sse' }]);
  const stream = await openai.chat.completions.create({ model: MODEL, messages: HI, stream: true });
  const { items, error } = await drain(stream);
  assert.ok(error instanceof SyntaxError, `got ${error?.constructor?.name}: ${error?.message}`);
  assert.equal(items.length, 0);
});

test('openai: malformed stream JSON is an error, not a silent wrong answer', T, async () => {
  await mockScript(mock.port, [{ malformed: 'json' }]);
  const stream = await openai.chat.completions.create({ model: MODEL, messages: HI, stream: true });
  const { error } = await drain(stream);
  assert.ok(error instanceof SyntaxError, `got ${error?.constructor?.name}: ${error?.message}`);
});

test('openai: a hung request ends with the SDK\'s timeout error', T, async () => {
  await mockScript(mock.port, [{ hang: true }]);
  await assert.rejects(
    client({ timeout: 300 }).chat.completions.create({ model: MODEL, messages: HI }),
    OpenAI.APIConnectionTimeoutError,
  );
});

// --- Azure OpenAI ------------------------------------------------------------------------

test('azure: AzureOpenAI chat.completions.create reaches the deployment and parses the answer', T, async () => {
  const r = await azure.chat.completions.create({ model: DEPLOYMENT, messages: HI });
  assert.equal(r.choices[0].message.content, MOCK_TEXT);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
  assert.equal(r.choices[0].content_filter_results.hate.filtered, false);
  assert.equal(r.prompt_filter_results[0].prompt_index, 0);
  const [req] = await completions();
  assert.equal(req.provider, 'azure');
  assert.equal(req.path, `/openai/deployments/${DEPLOYMENT}/chat/completions`);
  assert.match(req.query, new RegExp(`api-version=${API_VERSION}`));
  assert.equal(req.headers['api-key'], KEYS.azure);
  assert.equal(req.model, DEPLOYMENT);
});

test('azure: stream with include_usage — the prompt-filter preamble does not break the SDK', T, async () => {
  const stream = await azure.chat.completions.create({
    model: DEPLOYMENT, messages: HI, stream: true, stream_options: { include_usage: true },
  });
  const { items: chunks, error } = await drain(stream);
  assert.equal(error, null);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), MOCK_TEXT);
  assert.equal(chunks[0].id, '', 'the preamble chunk has an empty id');
  assert.deepEqual(chunks[0].choices, []);
  assert.ok(chunks[0].prompt_filter_results);
  assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason === 'stop').length, 1);
  assert.ok(chunks.at(-1).usage.completion_tokens > 0);
});

test('azure: stream() helper finalChatCompletion() over the Azure stream', T, async () => {
  const stream = azure.chat.completions.stream({ model: DEPLOYMENT, messages: HI });
  const final = await stream.finalChatCompletion();
  assert.equal(final.choices[0].message.content, MOCK_TEXT);
  assert.equal(final.choices[0].finish_reason, 'stop');
});

test('azure: a scripted tool call, plain and streamed', T, async () => {
  await mockScript(mock.port, [
    { provider: 'azure', tool_call: { name: 'get_weather', arguments: WEATHER_ARGS }, count: 2 },
  ]);
  const r = await azure.chat.completions.create({ model: DEPLOYMENT, messages: HI, tools: [WEATHER_TOOL] });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(JSON.parse(r.choices[0].message.tool_calls[0].function.arguments), WEATHER_ARGS);
  const final = await azure.chat.completions.stream({
    model: DEPLOYMENT, messages: HI, tools: [WEATHER_TOOL],
  }).finalChatCompletion();
  const call = final.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(call.function.parsed_arguments, WEATHER_ARGS);
});

test('azure: 404 DeploymentNotFound, 429 and a wrong key are the SDK\'s error classes', T, async () => {
  await mockScript(mock.port, [{ provider: 'azure', status: 404 }, { provider: 'azure', status: 429, retry_after: 2 }]);
  await rejectsWith(azure.chat.completions.create({ model: DEPLOYMENT, messages: HI }),
    OpenAI.NotFoundError, 404, (err) => {
      assert.equal(err.code, 'DeploymentNotFound');
      assert.ok(err.error.message.length > 0);
    });
  await rejectsWith(azure.chat.completions.create({ model: DEPLOYMENT, messages: HI }),
    OpenAI.RateLimitError, 429, (err) => {
      assert.equal(err.headers.get('retry-after'), '2');
      assert.ok(err.error.message.length > 0);
    });
  await rejectsWith(azureClient({ apiKey: 'wrong' }).chat.completions.create({ model: DEPLOYMENT, messages: HI }),
    OpenAI.AuthenticationError, 401, (err) => {
      assert.equal(err.code, '401');
      assert.match(err.error.message, /Access denied/);
    });
});

test('azure: an in-stream error surfaces inside the iteration', T, async () => {
  await mockScript(mock.port, [{ provider: 'azure', error_event_after_chunks: 1 }]);
  const stream = await azure.chat.completions.create({ model: DEPLOYMENT, messages: HI, stream: true });
  const { items, error } = await drain(stream);
  assert.ok(error instanceof OpenAI.APIError, `got ${error?.constructor?.name}: ${error?.message}`);
  assert.equal(items.map((c) => c.choices[0]?.delta?.content ?? '').join(''), mockWords()[0]);
});

test('azure: an Entra ID token (azureADTokenProvider) goes as a bearer token', T, async () => {
  const entra = new AzureOpenAI({
    endpoint: `http://127.0.0.1:${mock.port}`,
    azureADTokenProvider: async () => KEYS.azure,
    apiVersion: API_VERSION,
    deployment: DEPLOYMENT,
    maxRetries: 0,
    timeout: SDK_TIMEOUT_MS,
  });
  const r = await entra.chat.completions.create({ model: DEPLOYMENT, messages: HI });
  assert.equal(r.choices[0].message.content, MOCK_TEXT);
  const [req] = await completions();
  assert.equal(req.headers.authorization, `Bearer ${KEYS.azure}`);
  assert.equal(req.headers['api-key'], undefined);
});

test('azure: the v1 surface (/openai/v1) with the plain OpenAI client', T, async () => {
  const v1 = client({
    baseURL: `http://127.0.0.1:${mock.port}/openai/v1`,
    apiKey: KEYS.azure,
  });
  const final = await v1.chat.completions.stream({
    model: DEPLOYMENT, messages: HI, stream_options: { include_usage: true },
  }).finalChatCompletion();
  assert.equal(final.choices[0].message.content, MOCK_TEXT);
  assert.ok(final.usage.completion_tokens > 0);
  const [req] = await completions();
  assert.equal(req.provider, 'azure');
  assert.equal(req.path, '/openai/v1/chat/completions');
});
