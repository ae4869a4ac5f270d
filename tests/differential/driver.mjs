// Runs one differential scenario with the reference OpenAIRealtimeWebSocket of
// @openai/agents-realtime (the version pinned in package-lock.json) and prints what it did.
//
// Protocol (one JSON object per line; see README.md):
//   stdin, first line:  {"url": "ws://127.0.0.1:PORT/v1/realtime?model=...", "apiKey": "...",
//                        "steps": [...], "settleMs": 150}
//   stdout:             {"__driver__": "step", "i": N}         a step starts
//                       {"__driver__": "server", "i": N}       please run server step N, then
//                       stdin: {"ack": N, "ok": true|false, "error": "..."}
//                       {"__driver__": "record", "record": {...}}   the result, last line
// Server steps (inject, serverWait, ...) are run by the parent, which owns the mock server;
// every other step is a call on the reference object. Each event the reference emits is
// recorded by wrapping its `emit`, so events nobody listens to are recorded too.

import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { OpenAIRealtimeWebSocket } from '@openai/agents-realtime';

const SERVER_OPS = new Set([
  'inject',
  'injectBinary',
  'serverWait',
  'setResponses',
  'serverClose',
  'serverDrop',
]);

// Resolves once the line is handed to the OS: a pipe is asynchronous in node, and
// process.exit() would cut a long record short.
function out(obj) {
  return new Promise((resolve) => process.stdout.write(JSON.stringify(obj) + '\n', resolve));
}

// -- stdin: the scenario, then acknowledgements of server steps ------------------------------

const lines = [];
let lineWaiter = null;
let stdinClosed = false;
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (!line.trim()) return;
  lines.push(line);
  if (lineWaiter) {
    const w = lineWaiter;
    lineWaiter = null;
    w();
  }
});
rl.on('close', () => {
  stdinClosed = true;
  if (lineWaiter) {
    const w = lineWaiter;
    lineWaiter = null;
    w();
  }
});

async function nextLine() {
  while (lines.length === 0) {
    if (stdinClosed) throw new Error('stdin closed: no controller for server steps');
    await new Promise((resolve) => {
      lineWaiter = resolve;
    });
  }
  return JSON.parse(lines.shift());
}

// -- JSON-safe view of whatever the reference emits ------------------------------------------

function bytesView(buf) {
  const u8 =
    buf instanceof ArrayBuffer
      ? new Uint8Array(buf)
      : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    __bytes__: u8.byteLength,
    sha256: createHash('sha256').update(u8).digest('hex'),
  };
}

function ser(v, depth = 0) {
  if (depth > 64) return '<too deep>';
  if (v === null) return null;
  if (v === undefined) return undefined;
  const t = typeof v;
  if (t === 'string' || t === 'boolean') return v;
  if (t === 'number') return Number.isFinite(v) ? v : String(v);
  if (t === 'bigint') return String(v);
  if (t === 'function' || t === 'symbol') return undefined;
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return bytesView(v);
  if (v instanceof Error) {
    return { __exception__: v.constructor?.name ?? 'Error', message: String(v.message) };
  }
  const ctor = v.constructor?.name ?? '';
  if (ctor.endsWith('Event') && 'target' in v) {
    // ws's ErrorEvent/CloseEvent: getters, not own properties.
    return { __exception__: ctor, message: String(v.message ?? v.type ?? '') };
  }
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : ser(x, depth + 1)));
  const o = {};
  for (const [k, x] of Object.entries(v)) {
    const s = ser(x, depth + 1);
    if (s !== undefined) o[k] = s;
  }
  return o;
}

// -- the run -----------------------------------------------------------------------------------

async function main() {
  const scenario = await nextLine();
  const record = { events: [], steps: [], uncaught: [] };
  let t0 = null;
  let currentStep = -1;
  const now = () => (t0 === null ? 0 : performance.now() - t0);
  const last = new Map(); // event name -> last payload (for "$last:NAME" arguments)
  const counts = new Map();
  let recording = true;
  let changed = null;

  process.on('uncaughtException', (err) => {
    record.uncaught.push({ step: currentStep, t: now(), error: ser(err) });
  });
  process.on('unhandledRejection', (err) => {
    record.uncaught.push({ step: currentStep, t: now(), error: ser(err), rejection: true });
  });

  const ws = new OpenAIRealtimeWebSocket({ apiKey: scenario.apiKey });
  const origEmit = ws.emit.bind(ws);
  ws.emit = (name, ...args) => {
    if (recording) {
      record.events.push({ name, args: args.map((a) => ser(a) ?? null), t: now(), step: currentStep });
      if (args.length > 0) last.set(name, args[0]);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      if (changed) {
        const c = changed;
        changed = null;
        c();
      }
    }
    return origEmit(name, ...args);
  };
  // node's EventEmitter throws on an `error` nobody listens to; an application listens.
  ws.on('error', () => {});

  const resolveArg = (v) => {
    if (typeof v === 'string' && v.startsWith('$last:')) {
      const name = v.slice('$last:'.length);
      if (!last.has(name)) throw new Error(`no ${name} event to take the argument from`);
      return last.get(name);
    }
    return v;
  };

  async function waitFor(name, count, timeoutMs) {
    const deadline = performance.now() + timeoutMs;
    while ((counts.get(name) ?? 0) < count) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return true;
  }

  for (const [i, step] of scenario.steps.entries()) {
    if (i === 0) t0 = performance.now();
    currentStep = i;
    out({ __driver__: 'step', i });
    const entry = { i, op: step.op, t0: now(), outcome: 'ok' };
    try {
      if (SERVER_OPS.has(step.op)) {
        out({ __driver__: 'server', i });
        const ack = await nextLine();
        if (ack.ack !== i) throw new Error(`controller acknowledged step ${ack.ack}, not ${i}`);
        if (!ack.ok) {
          entry.outcome = ack.timeout ? 'timeout' : 'server_error';
          entry.error = ack.error;
        }
      } else {
        switch (step.op) {
          case 'connect':
            await ws.connect({
              apiKey: scenario.apiKey,
              url: scenario.url,
              ...(step.model !== undefined ? { model: step.model } : {}),
              ...(step.config !== undefined ? { initialSessionConfig: step.config } : {}),
            });
            break;
          case 'sendMessage':
            ws.sendMessage(step.message, step.otherEventData ?? {}, {
              triggerResponse: step.triggerResponse ?? true,
            });
            break;
          case 'addImage':
            ws.addImage(step.image, { triggerResponse: step.triggerResponse ?? true });
            break;
          case 'requestResponse':
            ws.requestResponse(step.response);
            break;
          case 'sendEvent':
            ws.sendEvent(step.event);
            break;
          case 'sendAudio': {
            const b = Buffer.from(step.audio, 'base64');
            const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
            ws.sendAudio(ab, { commit: step.commit ?? false });
            break;
          }
          case 'updateSessionConfig':
            ws.updateSessionConfig(step.config);
            break;
          case 'resetHistory':
            ws.resetHistory(step.old, step.new);
            break;
          case 'sendFunctionCallOutput':
            ws.sendFunctionCallOutput(
              resolveArg(step.toolCall),
              step.output,
              step.startResponse ?? true,
            );
            break;
          case 'sendMcpResponse':
            ws.sendMcpResponse(resolveArg(step.approvalRequest), step.approved, step.reason);
            break;
          case 'interrupt':
            ws.interrupt(step.cancel ?? true);
            break;
          case 'close':
            ws.close();
            break;
          case 'sleep':
            await new Promise((resolve) => setTimeout(resolve, step.ms));
            break;
          case 'waitFor':
            if (!(await waitFor(step.event, step.count ?? 1, step.timeout ?? 3000))) {
              entry.outcome = 'timeout';
            }
            break;
          default:
            throw new Error(`unknown step op ${step.op}`);
        }
      }
    } catch (err) {
      entry.outcome = 'raised';
      entry.error = ser(err);
    }
    entry.t1 = now();
    record.steps.push(entry);
  }
  await new Promise((resolve) => setTimeout(resolve, scenario.settleMs ?? 150));
  recording = false;
  try {
    ws.close();
  } catch {
    // Teardown only; the scenario's own close step is what is compared.
  }
  await out({ __driver__: 'record', record });
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`driver failed: ${err?.stack ?? err}\n`);
    process.exit(2);
  },
);
