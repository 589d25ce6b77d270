#include "fetchpool/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <variant>

namespace fetchpool {
namespace {

// One entry per key: where its value lives in Settings. Walking the parsed
// document against this table (rather than looking keys up one by one) is what
// lets unknown keys be reported instead of ignored.
using FieldPtr = std::variant<std::uint32_t*, std::uint64_t*, double*, bool*, std::string*, std::vector<std::string>*>;
struct Field {
  std::string_view section;
  std::string_view key;
  FieldPtr target;
};

std::vector<Field> fields_of(Settings& s) {
  return {
      {"run", "workers", &s.run.workers},
      {"run", "progress_interval_ms", &s.run.progress_interval_ms},
      {"run", "log_level", &s.run.log_level},
      {"crawl", "max_depth", &s.crawl.max_depth},
      {"crawl", "max_pages", &s.crawl.max_pages},
      {"crawl", "scope", &s.crawl.scope},
      {"crawl", "include", &s.crawl.include},
      {"crawl", "exclude", &s.crawl.exclude},
      {"crawl", "robots", &s.crawl.robots},
      {"crawl", "link_tags", &s.crawl.link_tags},
      {"crawl", "honour_rel_nofollow", &s.crawl.honour_rel_nofollow},
      {"crawl", "html_parser", &s.crawl.html_parser},
      {"crawl", "max_links_per_page", &s.crawl.max_links_per_page},
      {"http", "user_agent", &s.http.user_agent},
      {"http", "connect_timeout_ms", &s.http.connect_timeout_ms},
      {"http", "timeout_ms", &s.http.timeout_ms},
      {"http", "low_speed_limit", &s.http.low_speed_limit},
      {"http", "low_speed_time_s", &s.http.low_speed_time_s},
      {"http", "max_body_bytes", &s.http.max_body_bytes},
      {"http", "max_redirects", &s.http.max_redirects},
      {"http", "compressed", &s.http.compressed},
      {"http", "decode_downloads", &s.http.decode_downloads},
      {"http", "max_file_bytes", &s.http.max_file_bytes},
      {"http", "http2", &s.http.http2},
      {"http", "verify_tls", &s.http.verify_tls},
      {"politeness", "crawl_per_host", &s.politeness.crawl_per_host},
      {"politeness", "get_per_host", &s.politeness.get_per_host},
      {"politeness", "crawl_min_interval_ms", &s.politeness.crawl_min_interval_ms},
      {"politeness", "get_min_interval_ms", &s.politeness.get_min_interval_ms},
      {"politeness", "max_crawl_delay_ms", &s.politeness.max_crawl_delay_ms},
      {"retry", "max_retries", &s.retry.max_retries},
      {"retry", "backoff_base_ms", &s.retry.backoff_base_ms},
      {"retry", "backoff_max_ms", &s.retry.backoff_max_ms},
      {"retry", "max_retry_wait_s", &s.retry.max_retry_wait_s},
      {"output", "format", &s.output.format},
      {"output", "stats_json", &s.output.stats_json},
      {"output", "warc_file", &s.output.warc_file},
      {"output", "warc_max_size", &s.output.warc_max_size},
      {"serve", "pages", &s.serve.pages},
      {"serve", "links_per_page", &s.serve.links_per_page},
      {"serve", "page_bytes", &s.serve.page_bytes},
      {"serve", "latency_ms", &s.serve.latency_ms},
      {"serve", "jitter_ms", &s.serve.jitter_ms},
      {"serve", "error_rate", &s.serve.error_rate},
      {"serve", "seed", &s.serve.seed},
      {"serve", "threads", &s.serve.threads},
  };
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::array:
      return "array";
    case toml::node_type::table:
      return "table";
    default:
      return "date/time";
  }
}

// Returns an empty string on success, else what is wrong with the value.
template <typename Int>
std::string assign_integer(const toml::node& node, Int* out) {
  const auto v = node.value_exact<std::int64_t>();
  if (!v) return "expected a non-negative integer, got " + std::string(type_name(node));
  if (*v < 0 || static_cast<std::uint64_t>(*v) > std::numeric_limits<Int>::max())
    return "value " + std::to_string(*v) + " is out of range 0.." + std::to_string(std::numeric_limits<Int>::max());
  *out = static_cast<Int>(*v);
  return {};
}

std::string assign(const toml::node& node, FieldPtr target) {
  struct Visitor {
    const toml::node& node;
    std::string operator()(std::uint32_t* out) const { return assign_integer(node, out); }
    std::string operator()(std::uint64_t* out) const { return assign_integer(node, out); }
    std::string operator()(double* out) const {
      if (auto v = node.value<double>()) {
        *out = *v;
        return {};
      }
      return "expected a number, got " + std::string(type_name(node));
    }
    std::string operator()(bool* out) const {
      if (auto v = node.value_exact<bool>()) {
        *out = *v;
        return {};
      }
      return "expected true or false, got " + std::string(type_name(node));
    }
    std::string operator()(std::string* out) const {
      if (auto v = node.value_exact<std::string>()) {
        *out = *v;
        return {};
      }
      return "expected a string, got " + std::string(type_name(node));
    }
    std::string operator()(std::vector<std::string>* out) const {
      const auto* array = node.as_array();
      if (!array) return "expected an array of strings, got " + std::string(type_name(node));
      std::vector<std::string> values;
      for (const auto& element : *array) {
        auto v = element.value_exact<std::string>();
        if (!v) return "expected an array of strings, found a " + std::string(type_name(element));
        values.push_back(*v);
      }
      *out = std::move(values);
      return {};
    }
  };
  return std::visit(Visitor{node}, target);
}

// Checks that cannot be expressed as a type: enumerations and ranges.
std::string validate(const Settings& s, std::string* key) {
  auto fail = [key](std::string_view k, std::string message) {
    *key = k;
    return message;
  };
  if (s.run.workers == 0 || s.run.workers > 10000) return fail("run.workers", "must be between 1 and 10000");
  static const std::vector<std::string> kLevels{"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(kLevels.begin(), kLevels.end(), s.run.log_level) == kLevels.end())
    return fail("run.log_level", "'" + s.run.log_level + "' is not one of trace, debug, info, warn, error, off");
  if (s.crawl.scope != "host" && s.crawl.scope != "domain" && s.crawl.scope != "any")
    return fail("crawl.scope", "'" + s.crawl.scope + "' is not one of host, domain, any");
  if (s.crawl.html_parser != "fast" && s.crawl.html_parser != "gumbo")
    return fail("crawl.html_parser", "'" + s.crawl.html_parser + "' is not one of fast, gumbo");
  if (s.output.format != "jsonl" && s.output.format != "csv" && s.output.format != "sqlite")
    return fail("output.format", "'" + s.output.format + "' is not one of jsonl, csv, sqlite");
  if (s.serve.error_rate < 0.0 || s.serve.error_rate > 1.0) return fail("serve.error_rate", "must be between 0 and 1");
  if (s.serve.pages == 0) return fail("serve.pages", "must be at least 1");
  if (s.retry.backoff_max_ms < s.retry.backoff_base_ms)
    return fail("retry.backoff_max_ms", "must not be smaller than retry.backoff_base_ms");
  return {};
}

}  // namespace

Result<Settings> parse_settings(std::string_view toml_text, std::string_view source_name) {
  const std::string source(source_name);
  toml::table document;
  try {
    document = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream message;
    message << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    return Error{ErrorCode::kConfig, message.str()};
  }

  Settings settings;
  const auto fields = fields_of(settings);
  for (const auto& [section_key, section_node] : document) {
    const std::string section(section_key.str());
    const auto* table = section_node.as_table();
    bool known_section = false;
    for (const auto& f : fields) known_section = known_section || f.section == section;
    if (!known_section || !table) {
      return Error{ErrorCode::kConfig,
                   source + ": " + section + ": " +
                       (known_section ? "expected a [" + section + "] table"
                                      : "unknown section (known: run, crawl, http, politeness, retry, output, serve)")};
    }
    for (const auto& [key, node] : *table) {
      const std::string name(key.str());
      const auto it = std::find_if(fields.begin(), fields.end(),
                                   [&](const Field& f) { return f.section == section && f.key == name; });
      if (it == fields.end()) return Error{ErrorCode::kConfig, source + ": " + section + "." + name + ": unknown key"};
      if (auto problem = assign(node, it->target); !problem.empty())
        return Error{ErrorCode::kConfig, source + ": " + section + "." + name + ": " + problem};
    }
  }
  std::string bad_key;
  if (auto problem = validate(settings, &bad_key); !problem.empty())
    return Error{ErrorCode::kConfig, source + ": " + bad_key + ": " + problem};
  return settings;
}

Result<Settings> load_settings(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorCode::kConfig, path.string() + ": cannot open config file"};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error{ErrorCode::kConfig, path.string() + ": cannot read config file"};
  return parse_settings(text.str(), path.string());
}

}  // namespace fetchpool
