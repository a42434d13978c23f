// mock_anthropic.test.js — the official `@anthropic-ai/sdk` client against `llmux mock`:
// messages.create, messages.stream() and raw `stream: true` events, tool use with
// input_json_delta, scripted errors and broken streams.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { stop, mockScript, mockReset, mockRequests } from './helpers.js';
import { MOCK_TEXT, KEYS, T, SDK_TIMEOUT_MS, WEATHER_ARGS, startMock, drain, mockWords } from './mock_common.js';

let mock;
let anthropic;

// Not on the SDK's deprecated list (claude-sonnet-4-5 prints a warning).
const MODEL = 'claude-haiku-4-5';
const HI = [{ role: 'user', content: 'Hi there' }];
const BASE = { model: MODEL, max_tokens: 512, messages: HI };

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Weather forecast for a city',
  input_schema: {
    type: 'object',
    properties: {
      city: { type: 'string' },
      unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      days: { type: 'integer' },
      hourly: { type: 'boolean' },
    },
    required: ['city'],
  },
};
const OTHER_TOOL = { name: 'get_time', input_schema: { type: 'object', properties: {} } };

function client(opts = {}) {
  return new Anthropic({
    baseURL: `http://127.0.0.1:${mock.port}`,
    apiKey: KEYS.anthropic,
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
  anthropic = client();
});

after(async () => {
  assert.equal(await stop(mock), 0, 'the mock exits 0 on SIGTERM');
});

beforeEach(async () => mockReset(mock.port));

// --- plain answers -----------------------------------------------------------------------

test('anthropic: messages.create parses the message, usage and stop_reason', T, async () => {
  const r = await anthropic.messages.create(BASE);
  assert.equal(r.type, 'message');
  assert.equal(r.role, 'assistant');
  assert.match(r.id, /^msg_01/);
  assert.equal(r.model, MODEL);
  assert.equal(r.content.length, 1);
  assert.equal(r.content[0].type, 'text');
  assert.equal(r.content[0].text, MOCK_TEXT);
  assert.equal(r.stop_reason, 'end_turn');
  assert.equal(r.stop_sequence, null);
  assert.ok(r.usage.input_tokens > 0, 'input_tokens > 0');
  assert.ok(r.usage.output_tokens > 0, 'output_tokens > 0');
  const [req] = await completions();
  assert.equal(req.provider, 'anthropic');
  assert.equal(req.path, '/v1/messages');
  assert.ok(req.headers['anthropic-version'], 'the SDK sends anthropic-version');
  // this SDK sends the key as a bearer token (not x-api-key)
  const sent = req.headers['x-api-key'] ?? req.headers.authorization?.replace(/^Bearer /, '');
  assert.equal(sent, KEYS.anthropic);
});

test('anthropic: the x-api-key header is accepted too (as older SDKs and llmux send it)', T, async () => {
  const r = await anthropic.messages.create(BASE, {
    headers: { authorization: null, 'x-api-key': KEYS.anthropic },
  });
  assert.equal(r.content[0].text, MOCK_TEXT);
  const [req] = await completions();
  assert.equal(req.headers['x-api-key'], KEYS.anthropic);
  assert.equal(req.headers.authorization, undefined);
});

test('anthropic: withResponse() exposes the mock\'s request-id', T, async () => {
  const { data, response, request_id } = await anthropic.messages.create(BASE).withResponse();
  assert.equal(data.content[0].text, MOCK_TEXT);
  assert.equal(response.status, 200);
  assert.match(request_id, /^req_011C/);
});

test('anthropic: a system prompt counts toward input_tokens', T, async () => {
  const plain = await anthropic.messages.create(BASE);
  const sys = await anthropic.messages.create({
    ...BASE, system: 'You are a terse assistant that answers in one line.',
  });
  assert.ok(sys.usage.input_tokens > plain.usage.input_tokens);
  assert.equal(sys.content[0].text, MOCK_TEXT);
});

test('anthropic: max_tokens cuts the answer with stop_reason "max_tokens"', T, async () => {
  const r = await anthropic.messages.create({ ...BASE, max_tokens: 5 });
  assert.equal(r.stop_reason, 'max_tokens');
  assert.ok(MOCK_TEXT.startsWith(r.content[0].text));
  assert.ok(r.content[0].text.length < MOCK_TEXT.length);
  assert.ok(r.usage.output_tokens <= 5);
});

test('anthropic: a stop sequence ends the text with stop_reason "stop_sequence"', T, async () => {
  const r = await anthropic.messages.create({ ...BASE, stop_sequences: ['3.14'] });
  assert.equal(r.stop_reason, 'stop_sequence');
  assert.equal(r.stop_sequence, '3.14');
  assert.equal(r.content[0].text, MOCK_TEXT.slice(0, MOCK_TEXT.indexOf('3.14')));
});

test('anthropic: models.list() iterates the mock\'s model list', T, async () => {
  const models = [];
  for await (const m of anthropic.models.list()) models.push(m);
  assert.ok(models.length > 0);
  assert.ok(models.every((m) => m.type === 'model' && typeof m.id === 'string'));
});

// --- streams -----------------------------------------------------------------------------

test('anthropic: messages.stream() — text events, finalMessage() and finalText()', T, async () => {
  const stream = anthropic.messages.stream(BASE);
  const deltas = [];
  stream.on('text', (delta) => deltas.push(delta));
  const final = await stream.finalMessage();
  assert.equal(deltas.join(''), MOCK_TEXT);
  assert.deepEqual(deltas, mockWords(), 'one text_delta per word, blanks before it');
  assert.equal(final.content.length, 1);
  assert.equal(final.content[0].text, MOCK_TEXT);
  assert.equal(final.stop_reason, 'end_turn');
  assert.ok(final.usage.input_tokens > 0, 'input usage from message_start');
  assert.ok(final.usage.output_tokens > 0, 'output usage from message_delta');
  assert.match(final.id, /^msg_01/);
  assert.equal(await stream.finalText(), MOCK_TEXT);
  assert.match(stream.request_id, /^req_011C/);
});

test('anthropic: stream: true yields the documented event sequence', T, async () => {
  const stream = await anthropic.messages.create({ ...BASE, stream: true });
  const { items: events, error } = await drain(stream);
  assert.equal(error, null);
  const types = events.map((e) => e.type);
  assert.equal(types[0], 'message_start');
  assert.equal(types[1], 'content_block_start');
  assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  assert.ok(!types.includes('ping'), 'the SDK drops the mock\'s ping event, as it does the real one');
  const deltas = events.filter((e) => e.type === 'content_block_delta');
  assert.ok(deltas.every((e) => e.index === 0 && e.delta.type === 'text_delta'));
  assert.equal(deltas.map((e) => e.delta.text).join(''), MOCK_TEXT);
  assert.equal(events[0].message.content.length, 0);
  assert.ok(events[0].message.usage.input_tokens > 0);
  assert.deepEqual(events[1].content_block, { type: 'text', text: '' });
  const md = events.find((e) => e.type === 'message_delta');
  assert.equal(md.delta.stop_reason, 'end_turn');
  assert.ok(md.usage.output_tokens > 0);
});

test('anthropic: a slow stream (first_chunk_delay_ms, chunk_interval_ms) still assembles', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', first_chunk_delay_ms: 150, chunk_interval_ms: 5, text: 'One. Two. Three.', split_at: [4, 9] }]);
  const stream = anthropic.messages.stream(BASE);
  const t0 = Date.now();
  let firstAt = null;
  stream.on('text', () => { firstAt ??= Date.now() - t0; });
  const final = await stream.finalMessage();
  assert.equal(final.content[0].text, 'One. Two. Three.');
  assert.ok(firstAt >= 140, `first text after ${firstAt} ms`);
});

// --- tool use ----------------------------------------------------------------------------

test('anthropic: a scripted tool call parses as a tool_use block', T, async () => {
  await mockScript(mock.port, [{ tool_call: { name: 'get_weather', arguments: WEATHER_ARGS } }]);
  const r = await anthropic.messages.create({ ...BASE, tools: [OTHER_TOOL, WEATHER_TOOL] });
  assert.equal(r.stop_reason, 'tool_use');
  const uses = r.content.filter((b) => b.type === 'tool_use');
  assert.equal(uses.length, 1);
  assert.match(uses[0].id, /^toolu_01/);
  assert.equal(uses[0].name, 'get_weather');
  assert.deepEqual(uses[0].input, WEATHER_ARGS);
  assert.ok(r.usage.output_tokens > 0);
});

test('anthropic: tool_call: true names the first offered tool', T, async () => {
  await mockScript(mock.port, [{ tool_call: true }]);
  const r = await anthropic.messages.create({ ...BASE, tools: [OTHER_TOOL, WEATHER_TOOL] });
  const use = r.content.find((b) => b.type === 'tool_use');
  assert.equal(use.name, 'get_time');
  assert.equal(typeof use.input, 'object');
});

test('anthropic: a streamed tool call — input_json_delta assembled by finalMessage()', T, async () => {
  await mockScript(mock.port, [{ tool_call: { name: 'get_weather', arguments: WEATHER_ARGS, id: 'toolu_01FixedId' } }]);
  const stream = anthropic.messages.stream({ ...BASE, tools: [WEATHER_TOOL] });
  const partials = [];
  let lastSnapshot = null;
  stream.on('inputJson', (partial, snapshot) => { partials.push(partial); lastSnapshot = snapshot; });
  const final = await stream.finalMessage();
  assert.ok(partials.length >= 2, 'the input arrives in several input_json_delta events');
  assert.deepEqual(JSON.parse(partials.join('')), WEATHER_ARGS);
  assert.deepEqual(lastSnapshot, WEATHER_ARGS);
  assert.equal(final.stop_reason, 'tool_use');
  const use = final.content.find((b) => b.type === 'tool_use');
  assert.equal(use.id, 'toolu_01FixedId');
  assert.equal(use.name, 'get_weather');
  assert.deepEqual(use.input, WEATHER_ARGS);
});

test('anthropic: raw tool-use stream events have the documented shapes', T, async () => {
  await mockScript(mock.port, [{ tool_call: { name: 'get_weather', arguments: WEATHER_ARGS } }]);
  const stream = await anthropic.messages.create({ ...BASE, tools: [WEATHER_TOOL], stream: true });
  const { items: events, error } = await drain(stream);
  assert.equal(error, null);
  const start = events.find((e) => e.type === 'content_block_start' && e.content_block.type === 'tool_use');
  assert.ok(start, 'a tool_use content_block_start');
  assert.deepEqual(start.content_block.input, {});
  const json = events
    .filter((e) => e.type === 'content_block_delta' && e.index === start.index)
    .map((e) => { assert.equal(e.delta.type, 'input_json_delta'); return e.delta.partial_json; })
    .join('');
  assert.deepEqual(JSON.parse(json), WEATHER_ARGS);
  assert.equal(events.find((e) => e.type === 'message_delta').delta.stop_reason, 'tool_use');
});

test('anthropic: a tool round trip (tool_use then tool_result) is accepted', T, async () => {
  await mockScript(mock.port, [{ tool_call: { name: 'get_weather', arguments: WEATHER_ARGS } }]);
  const first = await anthropic.messages.create({ ...BASE, tools: [WEATHER_TOOL] });
  const use = first.content.find((b) => b.type === 'tool_use');
  const second = await anthropic.messages.create({
    ...BASE,
    tools: [WEATHER_TOOL],
    messages: [
      ...HI,
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '21 degrees' }] },
    ],
  });
  assert.equal(second.content[0].text, MOCK_TEXT);
  assert.equal(second.stop_reason, 'end_turn');
});

// --- errors ------------------------------------------------------------------------------

async function rejectsWith(promise, Cls, status, check = () => {}) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Cls, `expected ${Cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, status);
    check(err);
    return true;
  });
}

test('anthropic: scripted 429 is RateLimitError with the provider message and retry-after', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', status: 429, retry_after: 9 }]);
  await rejectsWith(anthropic.messages.create(BASE), Anthropic.RateLimitError, 429, (err) => {
    assert.equal(err.type, 'rate_limit_error');
    assert.match(err.apiMessage, /rate limit/);
    assert.equal(err.error.type, 'error');
    assert.equal(err.error.error.type, 'rate_limit_error');
    assert.equal(err.headers.get('retry-after'), '9');
    assert.match(err.requestID, /^req_011C/);
    assert.equal(err.error.request_id, err.requestID, 'the body names the request-id header');
  });
  assert.equal((await completions()).length, 1, 'maxRetries 0: one request');
});

test('anthropic: scripted 529 is OverloadedError (an InternalServerError) "Overloaded"', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', status: 529 }]);
  await rejectsWith(anthropic.messages.create(BASE), Anthropic.OverloadedError, 529, (err) => {
    assert.ok(err instanceof Anthropic.InternalServerError);
    assert.equal(err.type, 'overloaded_error');
    assert.equal(err.apiMessage, 'Overloaded');
  });
});

test('anthropic: a wrong key is AuthenticationError authentication_error', T, async () => {
  await rejectsWith(client({ apiKey: 'sk-ant-wrong' }).messages.create(BASE),
    Anthropic.AuthenticationError, 401, (err) => {
      assert.equal(err.type, 'authentication_error');
      assert.match(err.apiMessage, /invalid/);
      assert.ok(!err.message.includes('sk-ant-wrong'));
    });
});

test('anthropic: scripted 400, 401, 404, 500 and 503 are the SDK\'s own error classes', T, async () => {
  const cases = [
    [400, Anthropic.BadRequestError, 'invalid_request_error'],
    [401, Anthropic.AuthenticationError, 'authentication_error'],
    [404, Anthropic.NotFoundError, 'not_found_error'],
    [500, Anthropic.InternalServerError, 'api_error'],
    [503, Anthropic.InternalServerError, null],
  ];
  for (const [status, Cls, type] of cases) {
    await mockScript(mock.port, [{ status }]);
    await rejectsWith(anthropic.messages.create(BASE), Cls, status, (err) => {
      if (type) assert.equal(err.type, type);
      assert.ok(typeof err.apiMessage === 'string' && err.apiMessage.length > 0, `status ${status} has a message`);
    });
  }
});

test('anthropic: a request the real API refuses is BadRequestError invalid_request_error', T, async () => {
  await rejectsWith(anthropic.messages.create({ ...BASE, temperature: 1.5 }),
    Anthropic.BadRequestError, 400, (err) => {
      assert.equal(err.type, 'invalid_request_error');
      assert.match(err.apiMessage, /temperature/);
    });
});

test('anthropic: with maxRetries the SDK honours the mock\'s retry-after-ms on a 529', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', status: 529, retry_after_ms: 150 }]);
  const t0 = Date.now();
  const r = await client({ maxRetries: 1 }).messages.create(BASE);
  const ms = Date.now() - t0;
  assert.equal(r.content[0].text, MOCK_TEXT);
  assert.ok(ms >= 140, `waited ${ms} ms`);
  assert.deepEqual((await completions()).map((q) => q.status), [529, 200]);
});

test('anthropic: an in-stream error event surfaces inside the raw iteration', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', error_event_after_chunks: 2 }]);
  const stream = await anthropic.messages.create({ ...BASE, stream: true });
  const { items, error } = await drain(stream);
  assert.ok(error instanceof Anthropic.APIError, `got ${error?.constructor?.name}: ${error?.message}`);
  assert.equal(error.type, 'overloaded_error');
  assert.equal(error.apiMessage, 'Overloaded');
  const text = items.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join('');
  assert.equal(text, mockWords().slice(0, 2).join(''));
  assert.ok(!items.some((e) => e.type === 'message_stop'));
});

test('anthropic: an in-stream error rejects messages.stream().finalMessage()', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', error_event_after_chunks: 1 }]);
  const stream = anthropic.messages.stream(BASE);
  const texts = [];
  let errorEvent = null;
  stream.on('text', (t) => texts.push(t));
  stream.on('error', (e) => { errorEvent = e; });
  await assert.rejects(stream.finalMessage(), (err) => {
    assert.ok(err instanceof Anthropic.APIError, `got ${err?.constructor?.name}`);
    assert.equal(err.type, 'overloaded_error');
    return true;
  });
  assert.ok(errorEvent instanceof Anthropic.APIError);
  assert.deepEqual(texts, mockWords().slice(0, 1));
});

test('anthropic: a dropped stream surfaces as an error after the chunks that arrived', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', drop_after_chunks: 3 }]);
  const stream = anthropic.messages.stream(BASE);
  const texts = [];
  stream.on('text', (t) => texts.push(t));
  await assert.rejects(stream.finalMessage(), (err) => {
    // the helper wraps fetch's "terminated" TypeError in its own AnthropicError
    assert.ok(err instanceof Anthropic.AnthropicError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.match(err.message, /terminated/);
    return true;
  });
  assert.deepEqual(texts, mockWords().slice(0, 3));
  const [req] = await completions();
  assert.equal(req.dropped, true);
});

test('anthropic: a stream that ends before message_stop — finalMessage() rejects', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', malformed: 'truncated' }]);
  const stream = anthropic.messages.stream(BASE);
  await assert.rejects(stream.finalMessage(), (err) => {
    assert.ok(err instanceof Anthropic.AnthropicError, `got ${err?.constructor?.name}`);
    assert.match(err.message, /stream ended without producing a Message/);
    return true;
  });
});

test('anthropic: a body cut short (drop_after_chunks 0, non-streaming) is an error', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', drop_after_chunks: 0 }]);
  await assert.rejects(anthropic.messages.create(BASE), (err) => {
    assert.ok(err instanceof TypeError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.match(err.message, /terminated/);
    return true;
  });
});

test('anthropic: events without blank lines between them (malformed sse) fail', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', malformed: 'sse' }]);
  await assert.rejects(anthropic.messages.stream(BASE).finalMessage(), Anthropic.AnthropicError);
});

test('anthropic: malformed stream JSON is an error, not a silent wrong answer', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', malformed: 'json' }]);
  const stream = await anthropic.messages.create({ ...BASE, stream: true });
  const { error } = await drain(stream);
  assert.ok(error instanceof SyntaxError, `got ${error?.constructor?.name}: ${error?.message}`);
});

test('anthropic: a hung request ends with the SDK\'s timeout error', T, async () => {
  await mockScript(mock.port, [{ provider: 'anthropic', hang: true }]);
  await assert.rejects(client({ timeout: 300 }).messages.create(BASE), Anthropic.APIConnectionTimeoutError);
});
