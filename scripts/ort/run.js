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
// the counterpart of OMP_WAIT_POLICY=PASSIVE for netlens when the machine is shared.
// OUTDIR '-' writes nothing. Exit status: 2 for usage errors, 1 for any other failure.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

function fail(msg, code = 1) {
  process.stderr.write(`ort/run.js: ${msg}\n`);
  process.exit(code);
}

function load_ort() {
  const cache = process.env.NETLENS_CACHE_DIR || path.join(__dirname, '..', '..', '.cache');
  const where = path.join(cache, 'ort', 'node_modules', 'onnxruntime-node');
  try {
    return require(where);
  } catch (e) {
    fail(`cannot load onnxruntime-node from ${where} (${e.message.split('\n')[0]}); run scripts/fetch-models.sh`);
  }
}

// ---- .npy -------------------------------------------------------------------------------------
// numpy descr ↔ onnxruntime tensor type ↔ typed array.
const DTYPES = [
  { descr: 'f4', ort: 'float32', Array: Float32Array },
  { descr: 'f8', ort: 'float64', Array: Float64Array },
  { descr: 'f2', ort: 'float16', Array: Uint16Array },
  { descr: 'i1', ort: 'int8', Array: Int8Array },
  { descr: 'u1', ort: 'uint8', Array: Uint8Array },
  { descr: 'i2', ort: 'int16', Array: Int16Array },
  { descr: 'u2', ort: 'uint16', Array: Uint16Array },
  { descr: 'i4', ort: 'int32', Array: Int32Array },
  { descr: 'u4', ort: 'uint32', Array: Uint32Array },
  { descr: 'i8', ort: 'int64', Array: BigInt64Array },
  { descr: 'u8', ort: 'uint64', Array: BigUint64Array },
  { descr: 'b1', ort: 'bool', Array: Uint8Array },
];

function read_npy(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    fail(`${file}: cannot read (${e.code || e.message})`);
  }
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') fail(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  if (hstart + hlen > buf.length) fail(`${file}: truncated .npy header`);
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([<>|=])([a-z]\d+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) fail(`${file}: unreadable .npy header ${JSON.stringify(header)}`);
  if (descr[1] === '>') fail(`${file}: big-endian .npy is not supported`);
  if (fortran[1] === 'True') fail(`${file}: fortran_order .npy is not supported`);
  const dt = DTYPES.find((d) => d.descr === descr[2]);
  if (!dt) fail(`${file}: unsupported .npy dtype '${descr[2]}'`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  const nbytes = count * dt.Array.BYTES_PER_ELEMENT;
  if (buf.length - off !== nbytes) fail(`${file}: ${buf.length - off} data bytes, expected ${nbytes} for shape (${dims})`);
  // Copy into a fresh, aligned buffer (typed arrays need element alignment).
  const ab = new ArrayBuffer(nbytes);
  new Uint8Array(ab).set(buf.subarray(off, off + nbytes));
  return { dtype: dt, dims, data: new dt.Array(ab) };
}

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

// Linear interpolation between order statistics (as netlens bench computes it).
function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  const pos = p * (s.length - 1);
  const lo = Math.floor(pos), hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
const median = (xs) => percentile(xs, 0.5);

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
