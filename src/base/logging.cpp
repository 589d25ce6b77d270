// spdlog and fmt compiled into fetchpool from their headers, instead of linked
// as libspdlog.so and libfmt.so: two C++ shared libraries fewer to map and
// relocate at every start. Only this file compiles their implementations;
// every other file sees declarations only (SPDLOG_COMPILED_LIB, and fmt
// without FMT_HEADER_ONLY), so the build stays as fast as with the libraries.
#ifndef SPDLOG_COMPILED_LIB
#error "src/base/CMakeLists.txt defines SPDLOG_COMPILED_LIB for every user of fetchpool::logging"
#endif

#include <fmt/format-inl.h>
#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/details/periodic_worker-inl.h>
#include <spdlog/details/registry-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/sinks/ansicolor_sink-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/sink-inl.h>
#include <spdlog/sinks/stdout_color_sinks-inl.h>
#include <spdlog/sinks/stdout_sinks-inl.h>
#include <spdlog/spdlog-inl.h>

#include <mutex>

// The templates fetchpool uses, instantiated once here (the libraries carry
// the same instantiations).
template auto fmt::detail::thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template auto fmt::detail::decimal_point_impl<char>(locale_ref) -> char;
template void fmt::detail::buffer<char>::append<char>(const char*, const char*);
template fmt::detail::locale_ref::locale_ref(const std::locale& locale);
template auto fmt::detail::locale_ref::get<std::locale>() const -> std::locale;
template void fmt::detail::vformat_to<char>(buffer<char>&, string_view, basic_format_args<format_context>, locale_ref);
template class spdlog::sinks::base_sink<std::mutex>;
template class spdlog::sinks::ansicolor_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::ansicolor_stderr_sink<spdlog::details::console_mutex>;
template std::shared_ptr<spdlog::logger> spdlog::stderr_color_mt<spdlog::synchronous_factory>(
    const std::string& logger_name, color_mode mode);
