// Load on `strix serve` over loopback: CLIENTS concurrent clients, each sending streaming chat
// requests back to back for SECONDS; reports completed requests, errors, generated tokens/s in
// aggregate and per stream, and the server's resident memory at start and end (bounded memory is
// the point). Also runs the same with one client for the single-stream rate.
// Usage: node serve_load.mjs STRIX MODEL CLIENTS SECONDS [extra serve args...]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [tool, model, clients, seconds, ...extra] = process.argv.slice(2);

async function start() {
  const server = spawn(tool, ['serve', '--model', model, '--port', '0', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    server.stderr.on('data', (d) => {
      log += d;
      const m = /on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`server exited (${code}): ${log}`)));
  });
  return { server, url: `http://127.0.0.1:${port}` };
}

function rss(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}

async function load(url, count, duration) {
  const end = Date.now() + duration * 1000;
  let tokens = 0, requests = 0, errors = 0;
  const prompts = ['What is a Debian package?', 'How do I install Python?', 'Who are you?', 'What is apt?'];
  async function client(i) {
    while (Date.now() < end) {
      try {
        const res = await fetch(`${url}/v1/chat/completions`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ messages: [{ role: 'user', content: prompts[(i + requests) % prompts.length] }], max_tokens: 128, stream: true, stream_options: { include_usage: true }, temperature: 0.7, seed: i }),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const text = await res.text();
        if (!text.trimEnd().endsWith('data: [DONE]')) throw new Error('stream did not end with [DONE]');
        const usage = /"completion_tokens":(\d+)/.exec(text);
        if (!usage) throw new Error('no usage chunk');
        tokens += Number(usage[1]);
        ++requests;
      } catch (e) {
        ++errors;
        console.error(`client ${i}: ${e.message}`);
      }
    }
  }
  const begin = Date.now();
  await Promise.all(Array.from({ length: count }, (_, i) => client(i)));
  const elapsed = (Date.now() - begin) / 1000;
  return { clients: count, requests, errors, tokens, tok_s: tokens / elapsed, per_stream_tok_s: tokens / elapsed / count };
}

for (const count of [1, Number(clients)]) {
  const { server, url } = await start();
  const before = rss(server.pid);
  const result = await load(url, count, Number(seconds));
  result.rss_mib_start = before.toFixed(1);
  result.rss_mib_end = rss(server.pid).toFixed(1);
  console.log(JSON.stringify(result));
  server.kill();
}
