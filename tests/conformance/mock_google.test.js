// mock_google.test.js — the official `@google/genai` client (Gemini Developer API, v1beta)
// against `llmux mock`: generateContent, generateContentStream, function calls, scripted
// errors and broken streams.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { GoogleGenAI, ApiError, FinishReason, Type } from '@google/genai';
import { stop, mockScript, mockReset, mockRequests } from './helpers.js';
import { MOCK_TEXT, KEYS, T, SDK_TIMEOUT_MS, WEATHER_ARGS, startMock, drain, mockWords } from './mock_common.js';

let mock;
let genai;

const MODEL = 'gemini-2.5-flash';
const HI = 'Hi there';

const WEATHER_FN = {
  name: 'get_weather',
  description: 'Weather forecast for a city',
  parameters: {
    type: Type.OBJECT,
    properties: {
      city: { type: Type.STRING },
      unit: { type: Type.STRING, enum: ['celsius', 'fahrenheit'] },
      days: { type: Type.INTEGER },
      hourly: { type: Type.BOOLEAN },
    },
    required: ['city'],
  },
};
const OTHER_FN = { name: 'get_time', description: 'The time now' };
const TOOLS = [{ functionDeclarations: [WEATHER_FN] }];

// No retries: without retryOptions the SDK makes one attempt; attempts: 1 says so explicitly.
function client(opts = {}, http = {}) {
  return new GoogleGenAI({
    apiKey: KEYS.google,
    httpOptions: {
      baseUrl: `http://127.0.0.1:${mock.port}`,
      apiVersion: 'v1beta',
      timeout: SDK_TIMEOUT_MS,
      retryOptions: { attempts: 1 },
      ...http,
    },
    ...opts,
  });
}

async function completions() {
  return (await mockRequests(mock.port)).filter((r) => r.method === 'POST');
}

// The SDK's ApiError.message is the provider's error body as JSON text.
function errorBody(err) {
  return JSON.parse(err.message);
}

before(async () => {
  mock = await startMock();
  genai = client();
});

after(async () => {
  assert.equal(await stop(mock), 0, 'the mock exits 0 on SIGTERM');
});

beforeEach(async () => mockReset(mock.port));

// --- plain answers -----------------------------------------------------------------------

test('google: generateContent parses text, finishReason and usageMetadata', T, async () => {
  const r = await genai.models.generateContent({ model: MODEL, contents: HI });
  assert.equal(r.text, MOCK_TEXT);
  assert.equal(r.candidates.length, 1);
  assert.equal(r.candidates[0].content.role, 'model');
  assert.equal(r.candidates[0].finishReason, FinishReason.STOP);
  assert.ok(r.usageMetadata.promptTokenCount > 0, 'promptTokenCount > 0');
  assert.ok(r.usageMetadata.candidatesTokenCount > 0, 'candidatesTokenCount > 0');
  assert.equal(r.usageMetadata.totalTokenCount,
    r.usageMetadata.promptTokenCount + r.usageMetadata.candidatesTokenCount);
  assert.equal(r.modelVersion, MODEL);
  assert.ok(r.responseId, 'a responseId');
  assert.equal(r.functionCalls, undefined);
  const [req] = await completions();
  assert.equal(req.provider, 'google');
  assert.equal(req.path, `/v1beta/models/${MODEL}:generateContent`);
  assert.equal(req.headers['x-goog-api-key'], KEYS.google);
  assert.equal(req.model, MODEL);
});

test('google: config (systemInstruction, temperature, maxOutputTokens) is accepted; MAX_TOKENS', T, async () => {
  const r = await genai.models.generateContent({
    model: MODEL,
    contents: HI,
    config: { systemInstruction: 'Be brief.', temperature: 0.2, maxOutputTokens: 5 },
  });
  assert.equal(r.candidates[0].finishReason, FinishReason.MAX_TOKENS);
  assert.ok(MOCK_TEXT.startsWith(r.text));
  assert.ok(r.text.length < MOCK_TEXT.length);
  assert.ok(r.usageMetadata.candidatesTokenCount <= 5);
});

test('google: a stop sequence ends the text', T, async () => {
  const r = await genai.models.generateContent({
    model: MODEL, contents: HI, config: { stopSequences: ['3.14'] },
  });
  assert.equal(r.text, MOCK_TEXT.slice(0, MOCK_TEXT.indexOf('3.14')));
  assert.equal(r.candidates[0].finishReason, FinishReason.STOP);
});

test('google: a multi-turn chat (chats.create / sendMessage) works turn after turn', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', text: 'First answer.' }]);
  const chat = genai.chats.create({ model: MODEL });
  const a = await chat.sendMessage({ message: 'one' });
  assert.equal(a.text, 'First answer.');
  const b = await chat.sendMessage({ message: 'two' });
  assert.equal(b.text, MOCK_TEXT);
  const reqs = await completions();
  assert.equal(reqs.length, 2);
  const second = JSON.parse(reqs[1].body);
  assert.deepEqual(second.contents.map((c) => c.role), ['user', 'model', 'user']);
});

test('google: models.list() pages through the mock\'s model list', T, async () => {
  const pager = await genai.models.list();
  const names = [];
  for await (const m of pager) names.push(m.name);
  assert.ok(names.length > 0);
  assert.ok(names.every((n) => n.startsWith('models/')));
});

// --- streams -----------------------------------------------------------------------------

test('google: generateContentStream — text chunks, finishReason and usage on the last chunk', T, async () => {
  const stream = await genai.models.generateContentStream({ model: MODEL, contents: HI });
  const { items: chunks, error } = await drain(stream);
  assert.equal(error, null);
  assert.ok(chunks.length > 1, 'several chunks');
  assert.equal(chunks.map((c) => c.text ?? '').join(''), MOCK_TEXT);
  assert.deepEqual(chunks.map((c) => c.text), mockWords(), 'one chunk per word, blanks before it');
  const last = chunks.at(-1);
  assert.equal(last.candidates[0].finishReason, FinishReason.STOP);
  assert.ok(chunks.slice(0, -1).every((c) => !c.candidates[0].finishReason));
  assert.ok(last.usageMetadata.promptTokenCount > 0);
  assert.ok(last.usageMetadata.candidatesTokenCount > 0);
  assert.equal(new Set(chunks.map((c) => c.responseId)).size, 1, 'one responseId');
  const [req] = await completions();
  assert.equal(req.path, `/v1beta/models/${MODEL}:streamGenerateContent`);
  assert.match(req.query, /alt=sse/);
});

test('google: chat.sendMessageStream assembles the answer and keeps the history', T, async () => {
  const chat = genai.chats.create({ model: MODEL });
  const { items, error } = await drain(await chat.sendMessageStream({ message: 'one' }));
  assert.equal(error, null);
  assert.equal(items.map((c) => c.text ?? '').join(''), MOCK_TEXT);
  // the SDK keeps one model turn per streamed chunk
  const history = chat.getHistory();
  assert.equal(history[0].role, 'user');
  assert.ok(history.slice(1).every((c) => c.role === 'model'));
  assert.equal(history.slice(1).flatMap((c) => c.parts.map((p) => p.text)).join(''), MOCK_TEXT);
  // ... and sends them all back with the next message: the mock accepts that history
  const next = await chat.sendMessage({ message: 'two' });
  assert.equal(next.text, MOCK_TEXT);
});

// --- function calls ----------------------------------------------------------------------

test('google: a scripted tool call parses as a functionCall part', T, async () => {
  await mockScript(mock.port, [{ tool_call: { name: 'get_weather', arguments: WEATHER_ARGS } }]);
  const r = await genai.models.generateContent({
    model: MODEL, contents: HI,
    config: { tools: [{ functionDeclarations: [OTHER_FN, WEATHER_FN] }] },
  });
  assert.equal(r.functionCalls.length, 1);
  assert.equal(r.functionCalls[0].name, 'get_weather');
  assert.deepEqual(r.functionCalls[0].args, WEATHER_ARGS);
  assert.equal(r.candidates[0].finishReason, FinishReason.STOP);
  assert.equal(r.text, undefined, 'no text part');
  assert.ok(r.usageMetadata.candidatesTokenCount > 0);
});

test('google: tool_call: true names the first offered function', T, async () => {
  await mockScript(mock.port, [{ tool_call: true }]);
  const r = await genai.models.generateContent({
    model: MODEL, contents: HI,
    config: { tools: [{ functionDeclarations: [OTHER_FN, WEATHER_FN] }] },
  });
  assert.equal(r.functionCalls[0].name, 'get_time');
  assert.equal(typeof r.functionCalls[0].args, 'object');
});

test('google: a streamed tool call arrives as a functionCall part', T, async () => {
  await mockScript(mock.port, [{ tool_call: { name: 'get_weather', arguments: WEATHER_ARGS } }]);
  const stream = await genai.models.generateContentStream({ model: MODEL, contents: HI, config: { tools: TOOLS } });
  const { items, error } = await drain(stream);
  assert.equal(error, null);
  const calls = items.flatMap((c) => c.functionCalls ?? []);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, 'get_weather');
  assert.deepEqual(calls[0].args, WEATHER_ARGS);
  assert.equal(items.at(-1).candidates[0].finishReason, FinishReason.STOP);
  assert.ok(items.at(-1).usageMetadata.candidatesTokenCount > 0);
});

test('google: a function round trip (functionCall then functionResponse) is accepted', T, async () => {
  await mockScript(mock.port, [{ tool_call: { name: 'get_weather', arguments: WEATHER_ARGS } }]);
  const first = await genai.models.generateContent({ model: MODEL, contents: HI, config: { tools: TOOLS } });
  const call = first.functionCalls[0];
  const second = await genai.models.generateContent({
    model: MODEL,
    config: { tools: TOOLS },
    contents: [
      { role: 'user', parts: [{ text: HI }] },
      first.candidates[0].content,
      { role: 'user', parts: [{ functionResponse: { name: call.name, response: { temp: 21 } } }] },
    ],
  });
  assert.equal(second.text, MOCK_TEXT);
});

// --- errors ------------------------------------------------------------------------------

async function rejectsWith(promise, status, check = () => {}) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof ApiError, `expected ApiError, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, status);
    check(err, errorBody(err));
    return true;
  });
}

test('google: scripted 429 is ApiError 429 RESOURCE_EXHAUSTED with RetryInfo', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', status: 429, retry_after: 12 }]);
  await rejectsWith(genai.models.generateContent({ model: MODEL, contents: HI }), 429, (err, body) => {
    assert.equal(body.error.code, 429);
    assert.equal(body.error.status, 'RESOURCE_EXHAUSTED');
    assert.ok(body.error.message.length > 0);
    const retry = body.error.details.find((d) => d['@type']?.endsWith('google.rpc.RetryInfo'));
    assert.equal(retry.retryDelay, '12s');
  });
  assert.equal((await completions()).length, 1, 'one attempt');
});

test('google: scripted 503 and 500 are ApiError with the provider status', T, async () => {
  await mockScript(mock.port, [{ status: 503 }, { status: 500 }]);
  await rejectsWith(genai.models.generateContent({ model: MODEL, contents: HI }), 503, (err, body) => {
    assert.equal(body.error.status, 'UNAVAILABLE');
    assert.ok(body.error.message.length > 0);
  });
  await rejectsWith(genai.models.generateContent({ model: MODEL, contents: HI }), 500, (err, body) => {
    assert.equal(body.error.status, 'INTERNAL');
  });
});

test('google: a wrong key is ApiError 400 API_KEY_INVALID', T, async () => {
  await rejectsWith(client({ apiKey: 'wrong-google-key' }).models.generateContent({ model: MODEL, contents: HI }),
    400, (err, body) => {
      assert.equal(body.error.status, 'INVALID_ARGUMENT');
      assert.match(body.error.message, /API key not valid/);
      const info = body.error.details.find((d) => d['@type']?.endsWith('google.rpc.ErrorInfo'));
      assert.equal(info.reason, 'API_KEY_INVALID');
      assert.ok(!err.message.includes('wrong-google-key'), 'the key is not echoed');
    });
});

test('google: a scripted 404 names the model', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', status: 404 }]);
  await rejectsWith(genai.models.generateContent({ model: MODEL, contents: HI }), 404, (err, body) => {
    assert.equal(body.error.status, 'NOT_FOUND');
    assert.match(body.error.message, new RegExp(MODEL));
  });
});

test('google: a request the real API refuses is ApiError 400 INVALID_ARGUMENT', T, async () => {
  // more than 5 stop sequences
  await rejectsWith(genai.models.generateContent({
    model: MODEL, contents: HI, config: { stopSequences: ['a', 'b', 'c', 'd', 'e', 'f'] },
  }), 400, (err, body) => assert.equal(body.error.status, 'INVALID_ARGUMENT'));
});

test('google: a streaming request with a scripted 429 fails before the first chunk', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', status: 429 }]);
  await rejectsWith(genai.models.generateContentStream({ model: MODEL, contents: HI }), 429);
});

test('google: with retryOptions the SDK retries a 503 and then succeeds', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', status: 503 }]);
  const r = await client({}, { retryOptions: { attempts: 2, initialDelay: 0.05, maxDelay: 0.1, jitter: 0 } })
    .models.generateContent({ model: MODEL, contents: HI });
  assert.equal(r.text, MOCK_TEXT);
  assert.deepEqual((await completions()).map((q) => q.status), [503, 200]);
});

test('google: an in-stream error surfaces inside the iteration as ApiError', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', error_event_after_chunks: 2 }]);
  const stream = await genai.models.generateContentStream({ model: MODEL, contents: HI });
  const { items, error } = await drain(stream);
  assert.ok(error instanceof ApiError, `got ${error?.constructor?.name}: ${error?.message}`);
  assert.equal(error.status, 503);
  assert.match(error.message, /UNAVAILABLE/);
  assert.equal(items.map((c) => c.text ?? '').join(''), mockWords().slice(0, 2).join(''));
});

test('google: a dropped stream surfaces as an error after the chunks that arrived', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', drop_after_chunks: 3 }]);
  const stream = await genai.models.generateContentStream({ model: MODEL, contents: HI });
  const { items, error } = await drain(stream);
  assert.ok(error instanceof TypeError, `got ${error?.constructor?.name}: ${error?.message}`);
  assert.match(error.message, /terminated/);
  assert.equal(items.map((c) => c.text ?? '').join(''), mockWords().slice(0, 3).join(''));
  assert.ok(!items.some((c) => c.candidates?.[0]?.finishReason));
  const [req] = await completions();
  assert.equal(req.dropped, true);
});

test('google: a body cut short (drop_after_chunks 0, non-streaming) is an error', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', drop_after_chunks: 0 }]);
  await assert.rejects(genai.models.generateContent({ model: MODEL, contents: HI }), (err) => {
    assert.ok(err instanceof TypeError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.match(err.message, /terminated/);
    return true;
  });
});

test('google: a stream that ends without its finish chunk ends quietly (the SDK does not check)', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', malformed: 'truncated' }]);
  const stream = await genai.models.generateContentStream({ model: MODEL, contents: HI });
  const { items, error } = await drain(stream);
  assert.equal(error, null);
  assert.ok(!items.some((c) => c.candidates?.[0]?.finishReason), 'no finishReason: the only sign');
});

test('google: malformed stream JSON is an error', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', malformed: 'json' }]);
  const stream = await genai.models.generateContentStream({ model: MODEL, contents: HI });
  const { error } = await drain(stream);
  assert.ok(error instanceof SyntaxError, `got ${error?.constructor?.name}: ${error?.message}`);
});

test('google: events without blank lines between them (malformed sse) fail', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', malformed: 'sse' }]);
  const stream = await genai.models.generateContentStream({ model: MODEL, contents: HI });
  const { items, error } = await drain(stream);
  assert.match(String(error?.message), /Incomplete JSON segment/);
  assert.equal(items.length, 0);
});

test('google: a hung request ends with the SDK\'s timeout', T, async () => {
  await mockScript(mock.port, [{ provider: 'google', hang: true }]);
  await assert.rejects(
    client({}, { timeout: 300 }).models.generateContent({ model: MODEL, contents: HI }),
    (err) => {
      // the SDK aborts its fetch on httpOptions.timeout: a DOMException AbortError
      assert.equal(err?.name, 'AbortError', `got ${err?.name}: ${err?.message}`);
      return true;
    },
  );
});

test('google: Vertex AI mode (vertexai: true)', {
  skip: 'needs Google Cloud credentials (application default credentials or the metadata '
    + 'server) before any request is sent; the mock speaks the Gemini Developer API (v1beta) only',
}, () => {});
