// helpers.js — start/stop the real llmux binaries on loopback ports chosen at run time.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const LLMUX_BIN = process.env.LLMUX_BIN || path.resolve(here, '../../build/llmux');

// Starts `llmux ARGS...`; resolves with {proc, port} once the first stdout line names
// the port. Rejects after timeoutMs. The child is killed when the test process exits.
export function start(args, env = {}, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const proc = spawn(LLMUX_BIN, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`llmux ${args[0]} did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`llmux ${args[0]} exited early (${code})`));
    });
    const rl = createInterface({ input: proc.stdout });
    rl.once('line', (line) => {
      clearTimeout(timer);
      const m = line.match(/(\d+)\s*$/);
      if (!m) {
        proc.kill('SIGKILL');
        reject(new Error(`unexpected first line: ${line}`));
        return;
      }
      proc.removeAllListeners('exit');
      resolve({ proc, port: Number(m[1]) });
    });
    process.on('exit', () => proc.kill('SIGKILL'));
  });
}

// SIGTERM, then SIGKILL after graceMs; resolves with the exit code.
export function stop(child, graceMs = 5000) {
  return new Promise((resolve) => {
    if (!child || child.proc.exitCode !== null) return resolve(child?.proc.exitCode ?? 0);
    const timer = setTimeout(() => child.proc.kill('SIGKILL'), graceMs);
    child.proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 128 : 0));
    });
    child.proc.kill('SIGTERM');
  });
}

export async function mockScript(port, steps) {
  const r = await fetch(`http://127.0.0.1:${port}/_mock/script`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(steps),
  });
  if (r.status !== 200) throw new Error(`mock script refused: ${await r.text()}`);
}

export async function mockReset(port) {
  await fetch(`http://127.0.0.1:${port}/_mock/reset`, { method: 'POST' });
}

export async function mockRequests(port) {
  const r = await fetch(`http://127.0.0.1:${port}/_mock/requests`);
  return (await r.json()).requests;
}

// Starts the mock and a proxy whose upstreams all point at it, with managed keys.
export async function startStack(tokens = 'conf-token') {
  const mock = await start(['mock', '--listen', '127.0.0.1:0']);
  const base = `http://127.0.0.1:${mock.port}`;
  const proxy = await start(['serve', '--listen', '127.0.0.1:0', '--workers', '1', '--log-level', 'warn'], {
    LLMUX_OPENAI_BASE_URL: `${base}/v1`,
    LLMUX_ANTHROPIC_BASE_URL: base,
    LLMUX_GOOGLE_BASE_URL: base,
    AZURE_OPENAI_ENDPOINT: base,
    OPENAI_API_KEY: 'sk-conf-openai',
    ANTHROPIC_API_KEY: 'sk-conf-anthropic',
    GEMINI_API_KEY: 'conf-gemini',
    AZURE_OPENAI_API_KEY: 'conf-azure',
    LLMUX_KEYS_DIR: '',
    LLMUX_TOKENS: tokens,
  });
  return { mock, proxy, base };
}

export async function configure(port, token, session, provider, body) {
  const r = await fetch(`http://127.0.0.1:${port}/v1/sessions/${session}/providers/${provider}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (r.status !== 200) throw new Error(`configure ${provider}: ${r.status} ${await r.text()}`);
}
