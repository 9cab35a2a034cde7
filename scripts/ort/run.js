#!/usr/bin/env node
// onnxruntime-node as netlens' test oracle and benchmark baseline.
//
//   node run.js MODEL.onnx OUTDIR --input NAME=FILE.npy ... [--threads N] [--bench RUNS]
//                                 [--opt disabled|basic|extended|all] [--warmup N] [--no-spin]
//
// Reference runs (no --bench) use graphOptimizationLevel 'disabled', so every tensor of the
// original graph exists under its original name (a model rewritten by tests/models/expose_outputs
// lists them all as graph outputs). Each output is written as OUTDIR/<sanitized name>.npy (every
// character outside [A-Za-z0-9._-] becomes '_', as netlens::sanitize_tensor_name does) and
// OUTDIR/index.json lists {name, file, dtype, shape} for each (index.tsv: the same, tab-separated).
// With --bench RUNS the session uses 'all' optimisations, runs --warmup times (default 2), then
// RUNS timed runs, and prints one JSON line: {"median_ms","p10_ms","p90_ms","min_ms","max_ms","runs",
// "create_ms" (session creation, from the model file), "first_run_ms" (the first run, one more than --warmup when that is 0),...}.
// --no-spin turns off the intra-op thread pool's spin-waiting (session.intra_op.allow_spinning=0),
// for a shared machine: idle workers sleep, but the calling thread still spin-waits for its workers
// at the end of each parallel loop (EigenNonBlockingThreadPool.h, EndParallelSectionInternal), where
// OMP_WAIT_POLICY=PASSIVE makes every libgomp thread sleep (see scripts/bench-vs-ort.sh --wait).
// OUTDIR '-' writes nothing. Exit status: 2 for usage errors, 1 for any other failure.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { set_tool, fail, load_ort, DTYPES, read_npy, percentile, median } = require('./common.js');

set_tool('run.js');

function write_npy(file, descr, dims, bytes) {
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), bytes]));
}

function sanitize(name) {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

// ---- arguments --------------------------------------------------------------------------------
function parse_args(argv) {
  const usage = 'usage: node run.js MODEL.onnx OUTDIR --input NAME=FILE.npy ... [--threads N] [--bench RUNS] [--warmup N] [--opt LEVEL] [--no-spin]';
  const a = { inputs: [], threads: 0, bench: 0, warmup: 2, opt: null, spin: true, positional: [] };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value\n${usage}`, 2);
      return argv[++i];
    };
    const count = (min) => {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) fail(`${arg} ${v}: expected an integer >= ${min}`, 2);
      return n;
    };
    if (arg === '--input') {
      const v = value();
      const eq = v.indexOf('=');
      if (eq <= 0) fail(`--input ${v}: expected NAME=FILE.npy`, 2);
      a.inputs.push({ name: v.slice(0, eq), file: v.slice(eq + 1) });
    } else if (arg === '--threads') a.threads = count(1);
    else if (arg === '--bench') a.bench = count(1);
    else if (arg === '--warmup') a.warmup = count(0);
    else if (arg === '--no-spin') a.spin = false;
    else if (arg === '--opt') {
      a.opt = value();
      if (!['disabled', 'basic', 'extended', 'all'].includes(a.opt)) fail(`--opt ${a.opt}: expected disabled|basic|extended|all`, 2);
    } else if (arg === '-h' || arg === '--help') {
      process.stdout.write(usage + '\n');
      process.exit(0);
    } else if (arg.startsWith('--')) fail(`unknown option ${arg}\n${usage}`, 2);
    else a.positional.push(arg);
  }
  if (a.positional.length !== 2) fail(usage, 2);
  [a.model, a.outdir] = a.positional;
  if (!a.opt) a.opt = a.bench ? 'all' : 'disabled';
  return a;
}


async function main() {
  const args = parse_args(process.argv.slice(2));
  if (!fs.existsSync(args.model)) fail(`${args.model}: no such model file`);
  const ort = load_ort();

  const options = { graphOptimizationLevel: args.opt, executionMode: 'sequential', interOpNumThreads: 1 };
  if (args.threads) options.intraOpNumThreads = args.threads;
  if (!args.spin) options.extra = { session: { intra_op: { allow_spinning: '0' } } };
  let session;
  const t_create = process.hrtime.bigint();
  try {
    session = await ort.InferenceSession.create(args.model, options);
  } catch (e) {
    fail(`${args.model}: onnxruntime cannot load it: ${e.message.split('\n')[0]}`);
  }
  const create_ms = Number(process.hrtime.bigint() - t_create) / 1e6;

  const feeds = {};
  for (const inp of args.inputs) {
    if (!session.inputNames.includes(inp.name)) fail(`--input ${inp.name}: model inputs are ${session.inputNames.join(', ')}`, 2);
    const t = read_npy(inp.file);
    feeds[inp.name] = new ort.Tensor(t.dtype.ort, t.data, t.dims);
  }
  for (const name of session.inputNames) if (!feeds[name]) fail(`no --input for model input '${name}'`, 2);

  const run = async () => {
    try {
      return await session.run(feeds);
    } catch (e) {
      fail(`${args.model}: onnxruntime run failed: ${e.message.split('\n')[0]}`);
    }
  };

  let results;
  if (args.bench) {
    // Session creation (load + graph optimisation) and the first run: netlens's load + prepare and
    // first run (bench-vs-ort.sh's first-run columns).
    const t_first = process.hrtime.bigint();
    results = await run();
    const first_run_ms = Number(process.hrtime.bigint() - t_first) / 1e6;
    for (let i = 1; i < args.warmup; ++i) results = await run();
    const times = [];
    for (let i = 0; i < args.bench; ++i) {
      const t0 = process.hrtime.bigint();
      results = await run();
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const line = {
      engine: 'onnxruntime-node', version: ort.env.versions.node, model: path.basename(args.model),
      opt: args.opt, threads: args.threads || null, spin: args.spin, runs: times.length,
      median_ms: +median(times).toFixed(3), p10_ms: +percentile(times, 0.1).toFixed(3), p90_ms: +percentile(times, 0.9).toFixed(3),
      min_ms: +Math.min(...times).toFixed(3), max_ms: +Math.max(...times).toFixed(3),
      create_ms: +create_ms.toFixed(3), first_run_ms: +first_run_ms.toFixed(3),
    };
    process.stdout.write(JSON.stringify(line) + '\n');
  } else {
    results = await run();
  }

  if (args.outdir === '-') return;
  fs.mkdirSync(args.outdir, { recursive: true });
  const index = { model: path.resolve(args.model), engine: `onnxruntime-node ${ort.env.versions.node}`, opt: args.opt, outputs: [] };
  const files = new Map();
  for (const name of session.outputNames) {
    const t = results[name];
    const dt = DTYPES.find((d) => d.ort === t.type);
    if (!dt) fail(`output '${name}': unsupported type ${t.type}`);
    const file = sanitize(name) + '.npy';
    if (files.has(file)) fail(`outputs '${files.get(file)}' and '${name}' both sanitise to ${file}`);
    files.set(file, name);
    const data = t.data;
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    write_npy(path.join(args.outdir, file), (dt.descr === 'b1' || dt.descr.endsWith('1') ? '|' : '<') + dt.descr, t.dims.map(Number), bytes);
    index.outputs.push({ name, file, dtype: t.type, shape: t.dims.map(Number) });
  }
  fs.writeFileSync(path.join(args.outdir, 'index.json'), JSON.stringify(index, null, 1) + '\n');
  // The same list as tab-separated lines (name, file, dtype, shape as 1x3x48x320 / "scalar") for
  // readers without a JSON parser (the C++ model tests).
  const tsv = index.outputs.map((o) => [o.name, o.file, o.dtype, o.shape.length ? o.shape.join('x') : 'scalar'].join('\t'));
  fs.writeFileSync(path.join(args.outdir, 'index.tsv'), tsv.join('\n') + '\n');
}

main().catch((e) => fail(e.stack || String(e)));
