// Drives `strix serve` with the official OpenAI JavaScript client (the npm package `openai`, a
// client nobody here wrote): model list, chat and completions, streaming equal to non-streaming,
// typed errors, and an aborted stream that the server cancels.
// Usage: node serve_openai_check.mjs OPENAI_PACKAGE_DIR STRIX MODEL
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [packageDir, tool, model] = process.argv.slice(2);
const { default: OpenAI } = await import(pathToFileURL(path.join(packageDir, 'index.mjs')).href);

const server = spawn(tool, ['serve', '--model', model, '--name', 'tiny', '--port', '0', '--max-seqs', '4', '--ctx', '2048'],
                     { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
const port = await new Promise((resolve, reject) => {
  server.stderr.on('data', (d) => {
    log += d;
    const m = /on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
    if (m) resolve(m[1]);
  });
  server.on('exit', (code) => reject(new Error(`server exited (${code}): ${log}`)));
  setTimeout(() => reject(new Error(`server did not start: ${log}`)), 30000).unref();
});

let failed = false;
function check(condition, what) {
  if (!condition) {
    console.error(`FAIL: ${what}`);
    failed = true;
  }
}

try {
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });

  const models = await client.models.list();
  check(models.data.some((m) => m.id === 'tiny'), `models.list: ${JSON.stringify(models.data)}`);

  const request = { model: 'tiny', messages: [{ role: 'user', content: 'Who are you?' }], temperature: 0, max_tokens: 40 };
  const reply = await client.chat.completions.create(request);
  const content = reply.choices[0].message.content;
  check(content.startsWith('I am a tiny demonstration model in the Gemma 4 architecture'), `chat content: ${content}`);
  check(reply.usage.completion_tokens > 0 && reply.usage.prompt_tokens > 0, `usage: ${JSON.stringify(reply.usage)}`);

  let streamed = '';
  let finish = null;
  for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) {
    streamed += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  check(streamed === content, `streamed '${streamed}' differs from '${content}'`);
  check(finish === 'stop', `stream finish_reason ${finish}`);

  // A tool round trip as clients send it: declarations, the model's call, the tool's result.
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather now',
                                                 parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const followUp = await client.chat.completions.create({
    model: 'tiny', tools, temperature: 0, max_tokens: 16,
    messages: [{ role: 'user', content: 'Weather in Paris?' },
               { role: 'assistant', content: null,
                 tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
               { role: 'tool', tool_call_id: 'call_1', content: '{"celsius":21}' }],
  });
  check(followUp.usage.prompt_tokens > 20 && ['stop', 'length', 'tool_calls'].includes(followUp.choices[0].finish_reason),
        `tool round trip: ${JSON.stringify(followUp)}`);

  const completion = await client.completions.create({ model: 'tiny', prompt: 'Debian is', temperature: 0, max_tokens: 8 });
  check(typeof completion.choices[0].text === 'string' && completion.choices[0].text.length > 0, `completion: ${JSON.stringify(completion)}`);

  try {
    await client.chat.completions.create({ ...request, model: 'gpt-4' });
    check(false, 'an unknown model was accepted');
  } catch (e) {
    check(e instanceof OpenAI.NotFoundError, `unknown model: ${e}`);
  }
  try {
    await client.chat.completions.create({ ...request, max_tokens: -1 });
    check(false, 'negative max_tokens was accepted');
  } catch (e) {
    check(e instanceof OpenAI.BadRequestError, `negative max_tokens: ${e}`);
  }

  // Abort a long stream after a few chunks: the server cancels the request.
  const controller = new AbortController();
  let chunks = 0;
  try {
    const stream = await client.completions.create({ model: 'tiny', prompt: 'Debian', max_tokens: 1500, stream: true, ignore_eos: true },
                                                   { signal: controller.signal });
    for await (const _ of stream) {
      if (++chunks === 5) controller.abort();
    }
  } catch (e) {
    check(e instanceof OpenAI.APIUserAbortError, `abort: ${e}`);
  }
  let cancelled = false;
  for (let i = 0; i < 50 && !cancelled; ++i) {
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    cancelled = /^strix_requests_cancelled_total 1$/m.test(metrics) && /^strix_requests_running 0$/m.test(metrics);
    if (!cancelled) await new Promise((r) => setTimeout(r, 100));
  }
  check(cancelled, 'the aborted stream was not cancelled');
} finally {
  server.kill();
}
if (failed) {
  console.error(log);
  process.exit(1);
}
console.log('openai client checks passed');
