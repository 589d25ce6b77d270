// Reading WARC files back in tests: through warcio.js (tests/warc_reader,
// installed by scripts/install-deps.sh), and member by member with zlib, as
// a replay tool seeks to a CDXJ offset.
#pragma once

#include <zlib.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fetchpool::testing {

// Runs tests/warc_reader/read_warc.mjs (tests run in the source tree) on
// `files` and returns what it printed; throws when node or the reader's
// packages are missing (scripts/install-deps.sh installs both).
inline nlohmann::json read_with_warcio(const std::vector<std::filesystem::path>& files) {
  if (!std::filesystem::exists("tests/warc_reader/node_modules/warcio"))
    throw std::runtime_error("tests/warc_reader/node_modules/warcio is missing: run scripts/install-deps.sh");
  std::string command = "node tests/warc_reader/read_warc.mjs";
  for (const auto& file : files) command += " '" + file.string() + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run: " + command);
  std::string output;
  std::array<char, 65536> buffer;
  for (std::size_t n; (n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  if (status != 0) throw std::runtime_error(command + " failed (status " + std::to_string(status) + ")");
  return nlohmann::json::parse(output);
}

inline std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Inflates `length` bytes at `offset` of `file` as one gzip member on its
// own; throws unless they are exactly one whole member.
inline std::string inflate_member(const std::string& file_bytes, std::uint64_t offset, std::uint64_t length) {
  if (offset + length > file_bytes.size()) throw std::runtime_error("member beyond the end of the file");
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) throw std::runtime_error("inflateInit2 failed");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(file_bytes.data() + offset));
  stream.avail_in = static_cast<uInt>(length);
  std::string out;
  std::array<char, 65536> buffer;
  int rc = Z_OK;
  while (rc == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
    stream.avail_out = static_cast<uInt>(buffer.size());
    rc = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer.data(), buffer.size() - stream.avail_out);
    if (rc == Z_BUF_ERROR && stream.avail_in == 0) break;
  }
  const bool whole = rc == Z_STREAM_END && stream.avail_in == 0;
  inflateEnd(&stream);
  if (!whole) throw std::runtime_error("not exactly one whole gzip member");
  return out;
}

// Every gzip member of a file, in order, as (offset, length); throws on a
// torn tail.
inline std::vector<std::pair<std::uint64_t, std::uint64_t>> gzip_members(const std::string& file_bytes) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> members;
  std::uint64_t offset = 0;
  while (offset < file_bytes.size()) {
    z_stream stream{};
    if (inflateInit2(&stream, 15 + 16) != Z_OK) throw std::runtime_error("inflateInit2 failed");
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(file_bytes.data() + offset));
    stream.avail_in = static_cast<uInt>(file_bytes.size() - offset);
    std::array<char, 65536> buffer;
    int rc = Z_OK;
    while (rc == Z_OK) {
      stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
      stream.avail_out = static_cast<uInt>(buffer.size());
      rc = inflate(&stream, Z_NO_FLUSH);
    }
    const std::uint64_t length = stream.total_in;
    inflateEnd(&stream);
    if (rc != Z_STREAM_END) throw std::runtime_error("torn gzip member at offset " + std::to_string(offset));
    members.emplace_back(offset, length);
    offset += length;
  }
  return members;
}

// The CDXJ lines of an index file: "SURT timestamp {json}".
struct CdxjLine {
  std::string key;
  nlohmann::json fields;
};
inline std::vector<CdxjLine> read_cdxj(const std::filesystem::path& path) {
  std::vector<CdxjLine> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const auto brace = line.find('{');
    if (brace == std::string::npos || brace < 2) throw std::runtime_error("not a CDXJ line: " + line);
    lines.push_back({line.substr(0, brace - 1), nlohmann::json::parse(line.substr(brace))});
  }
  return lines;
}

}  // namespace fetchpool::testing
