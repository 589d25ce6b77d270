// The file side of batch downloading (fetchpool's answer to `aria2c -i list -d DIR`
// and `wget2 -i list -P DIR`): safe local names for URLs, collision-free names in an
// output directory, streaming a body to disk while hashing it, resuming partial
// files, and sha256sum-format checksum lists and manifests.
//
// Standards followed:
// - RFC 3986 §2.1/§3.3: a URL path is split on '/' first and each segment is then
//   percent-decoded, so "%2F" is data inside a segment, never a separator.
// - RFC 6266 §4.3 + RFC 8187: Content-Disposition `filename=` (token or quoted-string)
//   and `filename*=charset'lang'pct-encoded`; filename* wins when both are present.
// - RFC 9110 §13.1.5 (If-Range) and §14.4 (206 Content-Range) for resuming.
// - GNU coreutils sha256sum text format, including its escaping of '\\', '\n' and '\r'
//   in names (a line that starts with '\\').
// Deviations, on purpose:
// - Characters that are illegal only on Windows (CON, aux.txt, ':', '*') are kept:
//   fetchpool writes to POSIX file systems, where they are harmless.
// - Content-Disposition parsing is lenient where servers are sloppy: an unquoted value
//   may contain spaces, and an unterminated quoted-string runs to the end.
// - A weak ETag (W/"...") is stored but never offered for If-Range, which RFC 9110
//   forbids; Last-Modified is offered instead.
//
// Thread-safety: the naming functions and the checksum helpers are pure or touch only
// their own files, and may be called from any thread. OutputDirectory::reserve is
// thread-safe. FileWriter is not: one writer per transfer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fetchpool/body_writer.hpp"
#include "fetchpool/error.hpp"

namespace fetchpool {

// File name used when a URL path names a directory ("/", "/dir/", "").
inline constexpr std::string_view kDefaultFileName = "index.html";

struct NamingOptions {
  bool use_directories = false;      // wget -x: host/dir/.../name instead of the bare name
  bool content_disposition = false;  // wget --content-disposition: prefer the server's name
  // Per path component, in bytes. The default leaves room under NAME_MAX (255) for the
  // ".N" collision suffix and the ".part.meta" side file. Values below 1 count as 1.
  std::size_t max_name_bytes = 200;
};

// Maps a URL path (percent-encoded, e.g. "/dir/a%20b.txt"; anything from '?' or '#'
// on is ignored) to a relative path that cannot escape the directory it is joined to:
// no "..", no root, no NUL or control characters (C0, DEL, C1), no invalid UTF-8
// (each bad byte becomes '_'), no '/' or '\\' inside a component (also '_'), no empty
// or "." names (kDefaultFileName instead). Empty, "." and ".." directory segments are
// dropped, not resolved. Components longer than max_name_bytes are cut at a UTF-8
// boundary, keeping an extension of up to 16 bytes. `host` is used only with
// use_directories; `content_disposition` is the raw header value or empty, used only
// with options.content_disposition (its name replaces the URL's last segment; with
// use_directories the URL's directories are kept, as wget does).
std::filesystem::path safe_relative_path(std::string_view host, std::string_view url_path,
                                         std::string_view content_disposition, const NamingOptions& options);

// The file name a Content-Disposition header value suggests (RFC 6266), reduced to its
// last path component ('/' and '\\' both count as separators). filename* with charset
// UTF-8 or ISO-8859-1 is decoded to UTF-8 and preferred; other charsets are ignored.
// nullopt when there is no usable name (absent, empty, ".", ".."). The name is not
// otherwise sanitised: pass it through safe_relative_path before using it as a path.
std::optional<std::string> filename_from_content_disposition(std::string_view header);

enum class ClobberPolicy {
  // Default: never touch anything already on disk. A name is taken if it, or its
  // ".part", exists (so an earlier interrupted download survives); try name.1, name.2...
  kNoClobber,
  // Replace files from before this run. Names reserved earlier in this run are still
  // never shared: two concurrent downloads racing to one name would leave either.
  kOverwrite,
  // For --continue: a name that exists as a file is done, and reserve() returns
  // kDuplicate; a name with only a ".part" is returned so the caller can resume it.
  kSkipExisting,
};

// Hands out final paths inside one output directory.
//
// Uniqueness comes from an in-process registry of reserved names plus lstat checks,
// all under one mutex, rather than from O_CREAT|O_EXCL placeholder files. A placeholder
// would be an empty file under the final name for the whole transfer: after a crash it
// looks exactly like a finished empty download, a later --continue run would skip it
// forever, and every failure path would have to delete it. Keeping the final name free
// until FileWriter::commit renames a complete file onto it preserves "a final name only
// ever holds complete content". The price: another process writing into the same
// directory at the same time is not excluded (see the limitation in reserve()).
//
// A reservation of "x" also claims "x.part" and "x.part.meta", so a URL that maps to
// "x.part" cannot collide with another download's temporary file. Reservations are
// kept for the lifetime of the object (one short string per download), so a name that
// failed and left a .part behind is not handed to a second URL in the same run.
//
// Thread-safe. Move-only; do not move it while other threads use it.
class OutputDirectory {
 public:
  // Creates `root` (and its parents) if missing. kIo naming the path if it cannot be
  // created or is not a directory. `reserved` are files the caller writes itself (a
  // results file, a journal...): those inside root are never handed out, under any
  // policy, as if reserved earlier in this run.
  static Result<OutputDirectory> open(const std::filesystem::path& root,
                                      const std::vector<std::filesystem::path>& reserved = {});

  OutputDirectory(OutputDirectory&&) noexcept;
  OutputDirectory& operator=(OutputDirectory&&) noexcept;
  ~OutputDirectory();

  // Reserves an absolute final path for `relative` (from safe_relative_path), creating
  // its parent directories. Errors: kIo if `relative` is absolute, empty or contains
  // "..", if the path would resolve outside root (weakly_canonical, so a symlink inside
  // root that points out is caught), if a directory cannot be created, or if no free
  // name is found among name, name.1 ... name.9999; kDuplicate under kSkipExisting
  // when the file is already there. Limitation: a symlink swapped in by another process
  // between this check and the transfer is not detected.
  Result<std::filesystem::path> reserve(const std::filesystem::path& relative,
                                        ClobberPolicy policy = ClobberPolicy::kNoClobber);

  // The canonical absolute root.
  const std::filesystem::path& root() const;

 private:
  struct Registry;
  OutputDirectory(std::filesystem::path root, std::unique_ptr<Registry> registry);

  std::filesystem::path root_;
  std::unique_ptr<Registry> registry_;
};

struct DownloadResult {
  std::filesystem::path path;  // the final name
  std::uint64_t bytes = 0;     // size of the whole file, including a resumed prefix
  std::string sha256_hex;      // of the whole file, lower-case; "" when the writer did not hash
  bool resumed = false;        // true if an earlier .part was continued (206)
};

namespace detail {
class Sha256;
}

// libcurl's receive buffer for a transfer streamed into a FileWriter
// (FetchRequest::receive_buffer_bytes): a third of the recv and poll calls of the
// fetcher's 64 KiB default (strace: 2,684 instead of 8,348 recvfrom for 32 x 16
// MiB), measured 10-20% less CPU. Memory per download worker: this buffer (kept
// by its curl handle until a request asks for another size) plus the
// FileWriter's 64 KiB; list fetches and crawled pages keep 64 KiB.
inline constexpr std::size_t kDownloadReceiveBufferBytes = std::size_t{256} * 1024;

// Streams one body into "<final>.part", hashing as it goes (unless constructed with
// hash=false); commit() checks it and renames it onto the final name. Memory is
// constant: chunks of 64 KiB and more are written as they come, smaller ones are
// gathered in one 64 KiB buffer.
//
// Hashing. SHA-256 runs at about 1.6 GB/s per core even with SHA-NI, which is as much
// CPU as receiving and writing the bytes: a bulk download that nobody asked to hash
// passes hash=false. Then write() and a resume's begin() touch no hash, and
// DownloadResult::sha256_hex is "" - except that commit() with an expected_sha256
// still verifies it, by reading the finished part back.
//
// Resume protocol. Construct with resume=true; if "<final>.part" exists, ask the server
// for `Range: bytes=<existing_size()>-` with `If-Range: <if_range_validator()>` (omit
// If-Range when it is empty, at the risk of splicing if the file changed); begin()
// takes existing_size() > 0 to mean that this Range was sent. begin() then:
//   206 starting at S <= existing_size() -> the part is kept up to S and the range
//       written from there (an earlier start is honoured); when hashing, the hash
//       is rebuilt by reading the kept bytes; the file is complete only when it reaches the
//       Content-Range total (else commit() is kTruncated and the part kept);
//   206 whose ETag/Last-Modified differs from the saved one (the server ignored
//       If-Range)                     -> kNetwork; the stale .part and meta are deleted;
//   206 to no Range (existing_size() 0), without a valid Content-Range, starting
//       after existing_size(), or whose Content-Length is not its range's length
//                                     -> kProtocol; the .part is left untouched;
//   any other 2xx (the server ignored Range, or If-Range failed because the file
//       changed)                      -> truncate and restart from byte 0;
//   anything else (3xx, 4xx, 5xx)     -> kHttpStatus; the .part is left untouched.
// The response's ETag and Last-Modified are saved beside the part in
// "<final>.part.meta" (key=value lines) so that a later run can resume.
//
// Crash safety: the part is fsync'd before the rename and the directory after it, so a
// final name never holds partial content, even after a power cut.
//
// Not thread-safe. Not copyable or movable (the fetcher holds a BodyWriter&).
class FileWriter final : public BodyWriter {
 public:
  FileWriter(std::filesystem::path final_path, bool resume, bool hash = true);
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;
  ~FileWriter() override;  // abandon()s an unfinished transfer

  // Bytes already in the .part when constructed with resume=true, else 0.
  std::uint64_t existing_size() const;
  // The strong ETag saved by the earlier attempt, else its Last-Modified, else "".
  // Always "" when existing_size() is 0.
  std::string if_range_validator() const;

  // Errors: kHttpStatus / kNetwork / kProtocol as above; kIo naming the part file if it cannot be
  // opened, read back or truncated; kInternal if called twice.
  Result<void> begin(const ResponseHead& head) override;
  // kIo naming the part file when the disk refuses the bytes (ENOSPC, EFBIG, EIO...).
  // After an error every later call fails too.
  Result<void> write(std::string_view chunk) override;

  // Completes the file. Checks, in order:
  // - the total length against the Content-Length, or a 206's Content-Range total
  //   (only for identity encoding, since write() may receive decoded bytes):
  //   kTruncated, no final file. Too few bytes keep
  //   the .part and meta for a later resume; too many delete them.
  // - `expected_sha256` (64 hex digits, any case; kConfig if malformed, part kept):
  //   kChecksum on mismatch, and the .part and meta are deleted, since resuming a
  //   corrupt prefix could never succeed. Without hashing, the part is read back to
  //   check it (kIo naming it if it cannot be read).
  // Then fsyncs, renames "<final>.part" onto the final name (replacing a file there),
  // fsyncs the directory and removes the meta. kIo naming the path on failure.
  Result<DownloadResult> commit(std::optional<std::string> expected_sha256 = std::nullopt);

  // The transfer failed: flush what was received, keep the .part and meta for a later
  // --continue, and close the file. Idempotent; a no-op after commit().
  void abandon();

 private:
  enum class State { kNew, kWriting, kFailed, kDone };

  Error fail(Error error);  // enters kFailed; later calls return the same error
  Result<void> flush_buffer();
  Result<void> open_for_append(const ResponseHead& head, std::uint64_t start);
  Result<void> open_fresh();
  Result<void> open_directory();
  Result<std::string> hash_part_from_disk();
  Result<void> save_meta(const ResponseHead& head);
  void load_meta();
  void remove_part_and_meta();
  void close_fd();

  std::filesystem::path final_path_;
  std::filesystem::path part_path_;
  std::filesystem::path meta_path_;
  std::uint64_t existing_size_ = 0;
  std::string saved_etag_;
  std::string saved_last_modified_;

  State state_ = State::kNew;
  Error failure_;
  int fd_ = -1;
  // The final name's directory: the part, the meta file and its temporary are
  // opened relative to it, never through a symbolic link (see begin()).
  int dir_fd_ = -1;
  std::unique_ptr<detail::Sha256> hash_;  // null without hashing
  std::string buffer_;
  std::uint64_t bytes_ = 0;  // bytes in the part, counting the buffer
  std::optional<std::uint64_t> expected_total_;
  bool resumed_ = false;
};

// Reads a sha256sum-format list: "<64 hex>  <name>" (text mode) or "<64 hex> *<name>"
// (binary mode), with coreutils' leading-'\\' escaping, and also BSD-style
// "SHA256 (<name>) = <64 hex>" lines (sha256sum --tag). Blank lines and lines starting
// with '#' are skipped; CRLF endings are accepted. The key is the name exactly as
// listed (a file name, a relative path or a URL); digests are lower-cased. Errors:
// kIo if the file cannot be read; kConfig "file:line: ..." for a malformed line or a
// name listed twice with different digests.
Result<std::map<std::string, std::string>> load_checksum_list(const std::filesystem::path& file);

// Writes `results` as sha256sum would print them when run inside `root` (paths
// relative to root; a path outside root is written as given), in the given order.
// Atomic: a temporary file in the same directory, fsync, rename, fsync of the
// directory. kIo naming the file on failure.
Result<void> write_sha256_manifest(const std::filesystem::path& file, const std::vector<DownloadResult>& results,
                                   const std::filesystem::path& root);

// Lower-case hex SHA-256 of a file's contents, read in constant memory; "" if the file
// cannot be read.
std::string sha256_hex_of_file(const std::filesystem::path& file);

}  // namespace fetchpool
