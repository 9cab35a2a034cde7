#!/usr/bin/env node
// Per-node times of onnxruntime-node on the CPU, to set against `netlens bench --profile-nodes`.
//
//   node profile-nodes.js MODEL.onnx --input NAME=FILE.npy [--threads N] [--runs N] [--warmup N] [--opt all|disabled]
//
// Runs the model as scripts/bench-vs-ort.sh does (graph optimisations 'all' by default, sequential,
// no spin-waiting, --threads intra-op threads, default 2), with onnxruntime's profiler on
// (sessionOptions.enableProfiling), then prints the median whole-run time, the sum of the node
// medians per op type, and every node's median over the timed runs (kernel time, ms) in execution
// order with its output shape. With optimisations on, onnxruntime's nodes are its fused ones (a Conv
// with its activation and residual Add, in its NCHWc layout): match them to netlens' nodes by order
// and output shape. Float32 inputs only. The profile file goes to the system's temp folder and is
// removed. Exit status: 2 for usage errors, 1 for any other failure.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { set_tool, fail, load_ort, read_npy, median } = require('./common.js');

set_tool('profile-nodes.js');

function parse_args(argv) {
  const usage = 'usage: node profile-nodes.js MODEL.onnx --input NAME=FILE.npy [--threads N] [--runs N] [--warmup N] [--opt all|disabled]';
  const a = { inputs: [], threads: 2, runs: 20, warmup: 3, opt: 'all', model: null };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value\n${usage}`, 2);
      return argv[++i];
    };
    const count = (min) => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < min) fail(`${arg} must be an integer >= ${min}`, 2);
      return v;
    };
    if (arg === '--input') {
      const v = value(), eq = v.indexOf('=');
      if (eq <= 0) fail(`--input wants NAME=FILE.npy, got '${v}'`, 2);
      a.inputs.push({ name: v.slice(0, eq), file: v.slice(eq + 1) });
    } else if (arg === '--threads') a.threads = count(1);
    else if (arg === '--runs') a.runs = count(1);
    else if (arg === '--warmup') a.warmup = count(0);
    else if (arg === '--opt') a.opt = value();
    else if (arg.startsWith('--')) fail(`unknown option ${arg}\n${usage}`, 2);
    else if (!a.model) a.model = arg;
    else fail(`unexpected argument '${arg}'\n${usage}`, 2);
  }
  if (!a.model) fail(usage, 2);
  if (!['all', 'disabled', 'basic', 'extended'].includes(a.opt)) fail(`--opt: all, extended, basic or disabled, not '${a.opt}'`, 2);
  return a;
}


async function main() {
  const args = parse_args(process.argv.slice(2));
  if (!fs.existsSync(args.model)) fail(`${args.model}: no such model file`);
  const ort = load_ort();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-profile-'));
  process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));  // also after fail()
  const prefix = path.join(tmp, 'profile');
  const options = {
    graphOptimizationLevel: args.opt, executionMode: 'sequential', interOpNumThreads: 1, intraOpNumThreads: args.threads,
    enableProfiling: true, profileFilePrefix: prefix, extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  let session;
  try {
    session = await ort.InferenceSession.create(args.model, options);
  } catch (e) {
    fail(`${args.model}: onnxruntime cannot load it: ${e.message.split('\n')[0]}`);
  }
  const feeds = {};
  for (const inp of args.inputs) {
    if (!session.inputNames.includes(inp.name)) fail(`--input ${inp.name}: model inputs are ${session.inputNames.join(', ')}`, 2);
    const t = read_npy(inp.file);
    if (t.dtype.ort !== 'float32') fail(`${inp.file}: only float32 .npy inputs are supported here`);
    feeds[inp.name] = new ort.Tensor('float32', t.data, t.dims);
  }
  for (const name of session.inputNames) if (!feeds[name]) fail(`no --input for model input '${name}'`, 2);
  const run = async () => {
    try {
      return await session.run(feeds);
    } catch (e) {
      fail(`${args.model}: onnxruntime run failed: ${e.message.split('\n')[0]}`);
    }
  };
  for (let i = 0; i < args.warmup; ++i) await run();
  const times = [];
  for (let i = 0; i < args.runs; ++i) {
    const t0 = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  if (session.endProfiling) session.endProfiling();
  const dir = path.dirname(prefix);
  const file = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f))[0];
  if (!file) fail(`onnxruntime wrote no profile under ${dir}`);
  const events = JSON.parse(fs.readFileSync(file, 'utf8'));
  // Node events of the last `runs` runs: '<node>_kernel_time', duration in microseconds.
  const nodes = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    if (!nodes.has(name)) nodes.set(name, { op: e.args.op_name, shape: e.args.output_type_shape, d: [] });
    nodes.get(name).d.push(e.dur / 1000);
  }
  const rows = [];
  for (const [name, v] of nodes) rows.push({ name, op: v.op, shape: v.shape, ms: median(v.d.slice(-args.runs)) });
  const by_op = new Map();
  let total = 0;
  for (const r of rows) {
    by_op.set(r.op, (by_op.get(r.op) || 0) + r.ms);
    total += r.ms;
  }
  console.log(`onnxruntime ${ort.env.versions.node}, opt ${args.opt}, ${args.threads} threads, ${args.runs} runs: median ${median(times).toFixed(3)} ms`);
  console.log(`op types (sum of node medians, ms; ${total.toFixed(3)} in ${rows.length} nodes)`);
  for (const [op, ms] of [...by_op].sort((x, y) => y[1] - x[1])) console.log(`  ${op.padEnd(22)} ${ms.toFixed(3).padStart(9)}`);
  console.log('nodes (median, ms; execution order)');
  for (const r of rows) {
    const shape = (r.shape || []).map((o) => Object.values(o)[0].join('x')).join(',');
    console.log(`  ${r.ms.toFixed(4).padStart(9)}  ${r.op.padEnd(18)} ${shape.padEnd(16)} ${r.name}`);
  }
}

main().catch((e) => fail(e.message.split('\n')[0]));
