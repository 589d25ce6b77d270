#include "tools/cli/status_command.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

#include "fetchpool/redis_uri.hpp"
#include "tools/cli/exit_codes.hpp"
#ifdef FETCHPOOL_WITH_REDIS
#include "fetchpool/redis_frontier.hpp"
#endif

namespace fetchpool::cli {
namespace {

#ifdef FETCHPOOL_WITH_REDIS
int clear_crawl(const RedisUri& uri) {
  auto deleted = clear_redis_crawl(uri);
  if (!deleted) return fail(deleted.error().message, exit_code_for(deleted.error()));
  std::cout << "crawl " << to_string(uri) << ": deleted " << *deleted << " keys\n";
  return kExitOk;
}

int print_crawl_status(const RedisUri& uri) {
  auto status = read_redis_crawl_status(uri);
  if (!status) return fail(status.error().message, exit_code_for(status.error()));
  const FrontierCounts& c = status->counts;
  const char* state = c.finished ? "finished" : (status->accepted == 0 ? "empty" : "running");
  std::cout << "crawl " << to_string(uri) << ": " << state << "\n"
            << "queued:          " << c.queued << "\n"
            << "in flight:       " << c.in_flight << "\n"
            << "waiting retry:   " << c.delayed << "\n"
            << "done:            " << status->completed << "\n"
            << "accepted:        " << status->accepted << "\n"
            << "hosts:           " << c.hosts << "\n"
            << "leases:          " << c.leased_total << " handed out, " << status->expired << " expired and re-queued\n"
            << "retries:         " << status->retried << "\n"
            << "input closed:    " << (status->input_closed ? "yes" : "no") << "\n";
  return kExitOk;
}
#endif

}  // namespace

CLI::App* add_status_command(CLI::App& app, StatusCommandOptions& o) {
  auto* status = app.add_subcommand("status", "Print the state of a shared (--frontier) crawl from any node");
  status->add_option("--frontier", o.frontier_uri, "The crawl: redis://HOST[:PORT][/PREFIX]")->required();
  status->add_flag("--clear", o.clear,
                   "Delete the crawl's keys from Redis instead, so its PREFIX can start a new crawl");
  return status;
}

int run_status(const StatusCommandOptions& o) {
  auto uri = parse_redis_uri(o.frontier_uri);
  if (!uri) return fail(uri.error().message, kExitUsage);
#ifdef FETCHPOOL_WITH_REDIS
  return o.clear ? clear_crawl(*uri) : print_crawl_status(*uri);
#else
  return fail(
      "--frontier '" + o.frontier_uri + "': fetchpool was built without Redis support (FETCHPOOL_WITH_REDIS=OFF)",
      kExitUsage);
#endif
}

}  // namespace fetchpool::cli
