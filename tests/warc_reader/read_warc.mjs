// Reads WARC files with warcio.js and prints one JSON object the C++ tests
// assert on: every record with its offset and length in its file (as
// warcio's parser reports them), whether its WARC-Block-Digest and
// WARC-Payload-Digest match its bytes (sha1, base32; the payload is what
// follows the HTTP head, as warcio computes it), whether warcio decodes its
// content as the HTTP head describes it, and whether every request/response
// pair is linked both ways by WARC-Concurrent-To.
//
// Usage: node read_warc.mjs FILE.warc.gz ...
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { WARCParser } from "warcio";

const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
function base32(bytes) {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;
}
const sha1 = (bytes) => "sha1:" + base32(createHash("sha1").update(bytes).digest());

function headEnd(block) {
  for (let i = 0; i + 3 < block.length; ++i) {
    if (block[i] === 13 && block[i + 1] === 10 && block[i + 2] === 13 && block[i + 3] === 10) return i + 4;
  }
  return -1;
}

async function readRaw(file) {
  // Pass 1, without HTTP parsing: the whole block, for both digests.
  const records = [];
  const parser = new WARCParser(createReadStream(file), { parseHttp: false });
  for await (const record of parser) {
    const block = await record.readFully(false);
    const entry = {
      file,
      offset: parser.offset,
      type: record.warcType,
      id: record.warcHeader("WARC-Record-ID"),
      uri: record.warcTargetURI ?? null,
      concurrent: record.warcConcurrentTo,
      truncated: record.warcHeader("WARC-Truncated") ?? null,
      content_length: record.warcContentLength,
      block_length: block.length,
      block_ok: record.warcBlockDigest ? sha1(block) === record.warcBlockDigest : null,
      payload_ok: null,
    };
    if (record.warcType === "response" || record.warcType === "request") {
      const end = headEnd(block);
      entry.head_ok = end > 0;
      if (record.warcPayloadDigest) entry.payload_ok = end > 0 && sha1(block.subarray(end)) === record.warcPayloadDigest;
    }
    records.push(entry);
    entry.length_placeholder = true;
    // recordLength is known once the record is consumed.
    entry.length = parser.recordLength;
    delete entry.length_placeholder;
  }
  return records;
}

async function readParsed(file, records) {
  // Pass 2, as a replay tool reads it: HTTP head parsed, content decoded.
  const parser = new WARCParser(createReadStream(file));
  let i = 0;
  for await (const record of parser) {
    const entry = records[i++];
    if (!entry) break;
    if (record.warcType === "response") {
      entry.status = record.httpHeaders?.statusCode ?? null;
      entry.content_encoding = record.httpHeaders?.headers.get("content-encoding") ?? null;
      try {
        const content = await record.readFully(true);
        entry.content_ok = true;
        entry.content_bytes = content.length;
      } catch (error) {
        entry.content_ok = false;
        entry.content_error = String(error);
      }
    } else if (record.warcType === "request") {
      entry.method = record.httpHeaders?.method ?? null;
      await record.readFully(false);
    } else {
      await record.readFully(false);
    }
  }
}

const files = process.argv.slice(2);
const all = [];
const errors = [];
for (const file of files) {
  try {
    const records = await readRaw(file);
    await readParsed(file, records);
    all.push(...records);
  } catch (error) {
    errors.push(`${file}: ${error}`);
  }
}

// Pairs: each request names its response and the response names it back.
const byId = new Map(all.map((r) => [r.id, r]));
let pairs = 0;
let unpaired = 0;
for (const r of all) {
  if (r.type !== "request" && r.type !== "response") continue;
  const other = r.concurrent.length === 1 ? byId.get(r.concurrent[0]) : undefined;
  const linked =
    other !== undefined &&
    other.type === (r.type === "request" ? "response" : "request") &&
    other.concurrent.includes(r.id) &&
    other.uri === r.uri;
  if (!linked) ++unpaired;
  else if (r.type === "response") ++pairs;
}

const count = (predicate) => all.filter(predicate).length;
process.stdout.write(
  JSON.stringify({
    records: all,
    errors,
    pairs,
    unpaired,
    block_mismatches: count((r) => r.block_ok === false),
    payload_mismatches: count((r) => r.payload_ok === false),
    content_failures: count((r) => r.content_ok === false),
    warcinfo_first: files.map((f) => all.find((r) => r.file === f)?.type === "warcinfo"),
  }) + "\n",
);
