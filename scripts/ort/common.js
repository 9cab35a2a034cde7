// What the onnxruntime-node scripts share (run.js, profile-nodes.js): loading onnxruntime-node from
// the project's cache, reading .npy inputs, order statistics. `tool` names the script in its errors
// (one line on stderr, exit status `code`: 2 for usage errors, 1 otherwise).
'use strict';

const fs = require('node:fs');
const path = require('node:path');

let tool = 'ort';
function set_tool(name) { tool = name; }

function fail(msg, code = 1) {
  process.stderr.write(`ort/${tool}: ${msg}\n`);
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

// Linear interpolation between order statistics (as netlens bench computes it).
function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  const pos = p * (s.length - 1);
  const lo = Math.floor(pos), hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
const median = (xs) => percentile(xs, 0.5);

module.exports = { set_tool, fail, load_ort, DTYPES, read_npy, percentile, median };
