// mock_common.js — shared bits of the mock conformance tests (mock_*.test.js): the mock's
// default answer, its keys, and a bounded start of `llmux mock`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

// LLMUX__MOCK_DEFAULT_TEXT in src/mock/mock.h (mock_openai.test.js checks the two agree).
export const MOCK_TEXT =
  'Hello from the llmux mock. Dr. Ada Byte measured 3.14 meters of cable today. That is **good** news! Is there anything else I can check for you?';

// The string literals of LLMUX__MOCK_DEFAULT_TEXT, concatenated as the C compiler would.
export function defaultTextFromHeader() {
  const src = readFileSync(path.resolve(here, '../../src/mock/mock.h'), 'utf8');
  const m = src.match(/#define LLMUX__MOCK_DEFAULT_TEXT((?:[^\n]*\\\n)*[^\n]*)/);
  if (!m) throw new Error('LLMUX__MOCK_DEFAULT_TEXT not found in src/mock/mock.h');
  return [...m[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((s) => JSON.parse(`"${s[1]}"`)).join('');
}

// The keys every mock in these tests accepts (one per provider, so a key sent in the wrong
// header or to the wrong provider is refused).
export const KEYS = {
  openai: 'sk-mockconf-openai',
  azure: 'mockconf-azure',
  anthropic: 'sk-ant-mockconf',
  google: 'mockconf-google',
};

export function startMock(extra = []) {
  const args = ['mock', '--listen', '127.0.0.1:0'];
  for (const [p, k] of Object.entries(KEYS)) args.push('--key', `${p}=${k}`);
  return start([...args, ...extra]);
}

// Per-test limit (node:test fails a test that runs longer).
export const T = { timeout: 15000 };

// Every SDK call in these tests is also bounded by the SDK's own timeout.
export const SDK_TIMEOUT_MS = 10000;

// The tool every tool-call test offers.
export const WEATHER_ARGS = { city: 'Paris', unit: 'celsius', days: 3, hourly: false };

// Collects an async iterable; resolves with {items, error} instead of throwing, so a test can
// check what arrived before an error as well as the error itself.
export async function drain(iterable, onItem = () => {}) {
  const items = [];
  try {
    for await (const item of iterable) {
      items.push(item);
      onItem(item);
    }
    return { items, error: null };
  } catch (error) {
    return { items, error };
  }
}

// The words of MOCK_TEXT as the mock streams them: a word with the blanks before it.
export function mockWords(text = MOCK_TEXT) {
  return text.match(/\s*\S+/g);
}
