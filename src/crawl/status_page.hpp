// The status server's page: one self-contained HTML document (inline CSS,
// inline script, SVG charts; no external asset) that renders the embedded
// status.json at once and then fetches it again every second.
#pragma once

#include <string>
#include <string_view>

namespace fetchpool::detail {

// `status_json` is embedded as the page's first data, so the numbers are on
// the page as soon as it loads (also for a browser that runs no timers).
std::string render_status_page(std::string_view label, std::string_view status_json);

}  // namespace fetchpool::detail
