#include "tools/cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>
#include <system_error>

#include "tools/cli/bench_command.hpp"
#include "tools/cli/crawl_command.hpp"
#include "tools/cli/demo.hpp"
#include "tools/cli/get_command.hpp"
#include "tools/cli/global_options.hpp"
#include "tools/cli/serve_command.hpp"
#include "tools/cli/status_command.hpp"

namespace fetchpool::cli {

int run_cli(int argc, char** argv) {
  CLI::App app{
      "fetchpool: concurrent web crawler and parallel fetcher.\n"
      "A frontier queue feeds a pool of worker threads, each doing blocking HTTP with its own\n"
      "reused libcurl handle. Exit codes: 0 all URLs ok, 1 some URLs failed, 2 usage or config\n"
      "error, 3 interrupted (results so far were written), 4 internal or environment error, or an\n"
      "output that could not be written (full disk, closed stdout), 5 the shared frontier's Redis\n"
      "was lost."};
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", "fetchpool 0.1.0");
  GlobalOptions global;
  add_global_options(app, global);
  // Registered in the order --help lists them.
  CrawlCommandOptions crawl_options;
  auto* crawl = add_crawl_command(app, crawl_options);
  GetCommandOptions get_options;
  auto* get = add_get_command(app, get_options);
  ServeCommandOptions serve_options;
  auto* serve = add_serve_command(app, serve_options);
  DemoOptions demo_options;
  auto* demo = add_demo_command(app, demo_options);
  StatusCommandOptions status_options;
  auto* status = add_status_command(app, status_options);
  BenchCommandOptions bench_options;
  auto* bench = add_bench_command(app, bench_options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  auto settings = load_base_settings(global.config_path);
  if (!settings) return fail(settings.error().message, kExitUsage);
  configure_logging(global, settings->run.log_level);

  try {
    if (*crawl) return run_crawl(crawl_options, *settings, global.quiet);
    if (*get) return run_get(get_options, *settings, global.quiet);
    if (*serve) return run_serve(serve_options, settings->serve);
    if (*demo) return run_demo(demo_options);
    if (*status) return run_status(status_options);
    if (*bench) return run_bench(bench_options, global.quiet);
  } catch (const std::system_error& e) {
    std::cerr << "fetchpool: " << e.what() << "\n";
    return kExitInternal;
  } catch (const std::exception& e) {
    std::cerr << "fetchpool: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
  return kExitUsage;
}

}  // namespace fetchpool::cli
