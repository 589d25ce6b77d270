# bench/gen_site.awk - writes a static site of `pages` HTML pages of about `bytes` bytes each
# under directory `root`, for crawl benchmarks:
#   awk -v root=DIR -v pages=20000 -v bytes=10240 -f bench/gen_site.awk
# Page 0 is root/index.html; page i > 0 is root/s/<i/1000>/<i>.html. Every page links, with
# relative hrefs, to its tree children 4i+1..4i+4 (so every page is reachable from index.html,
# at depth <= log4(pages)+1) and to 4 pseudo-random pages (so the crawler sees duplicates, as on
# a real site). Prints nothing; writes a robots.txt that allows everything.
function path_of(i) { return i == 0 ? "index.html" : "s/" int(i / 1000) "/" i ".html" }
function dir_of(i) { return i == 0 ? "" : "s/" int(i / 1000) "/" }
# Relative href from page `from` to page `to`.
function href(from, to) {
  if (from == 0) return path_of(to)
  if (to == 0) return "../../index.html"
  if (int(from / 1000) == int(to / 1000)) return to ".html"
  return "../" int(to / 1000) "/" to ".html"
}
BEGIN {
  if (root == "" || pages < 1) { print "gen_site.awk: set -v root=DIR -v pages=N" > "/dev/stderr"; exit 2 }
  if (bytes == "") bytes = 10240
  words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua"
  para = "<p>" words " " words " " words "</p>\n"
  filler = ""
  # ~1 KiB of links and markup per page; the rest is paragraphs. Bounded: at most 1000 paragraphs.
  for (n = 0; length(filler) + 1024 < bytes && n < 1000; n++) filler = filler para
  for (d = 0; d <= int((pages - 1) / 1000); d++) system("mkdir -p '" root "/s/" d "'")
  for (i = 0; i < pages; i++) {
    f = root "/" path_of(i)
    printf "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Page %d</title></head>\n<body>\n<h1>Page %d</h1>\n<ul>\n", i, i > f
    for (k = 1; k <= 4; k++) {
      c = 4 * i + k
      if (c < pages) printf "<li><a href=\"%s\">child %d</a></li>\n", href(i, c), c > f
    }
    for (k = 1; k <= 4; k++) {
      r = (i * 7919 + k * 104729) % pages
      printf "<li><a href=\"%s\">see also %d</a></li>\n", href(i, r), r > f
    }
    printf "</ul>\n%s</body></html>\n", filler > f
    close(f)
  }
  print "User-agent: *\nAllow: /" > (root "/robots.txt")
  close(root "/robots.txt")
}
