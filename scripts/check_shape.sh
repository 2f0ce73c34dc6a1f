#!/bin/sh
# check_shape.sh - the code-shape limits of issue 19, reported (exit 1 when
# one is exceeded):
#   - no source file under src/ outside src/tensor/x86 over 1000 lines;
#   - no function outside src/tensor over 150 lines (a function = from a
#     line that starts a top-level definition, "name(...) {" at column 0 or
#     its last line, to the next "}" at column 0);
#   - which files include microhttpd.h (only src/server/http.* may).
# Usage: sh scripts/check_shape.sh [MAX_FILE_LINES [MAX_FUNC_LINES]]
set -u
cd "$(dirname "$0")/.." || exit 2
MAXF=${1:-1000}
MAXFN=${2:-150}
bad=0

echo "== files over $MAXF lines (src/, except src/tensor/x86)"
for f in $(find src -name '*.[ch]' ! -path 'src/tensor/x86/*' | sort); do
    n=$(wc -l < "$f")
    if [ "$n" -gt "$MAXF" ]; then echo "  $f: $n lines"; bad=1; fi
done

echo "== functions over $MAXFN lines (src/, except src/tensor)"
for f in $(find src -name '*.c' ! -path 'src/tensor/*' | sort); do
    awk -v max="$MAXFN" -v file="$f" '
        # a definition starts at column 0 with an identifier and "(" and is
        # not a declaration (no ";" at the end), a macro or a comment
        /^[A-Za-z_][A-Za-z0-9_ \*]*[ \*]?[A-Za-z_][A-Za-z0-9_]*\(/ && !/;[ \t]*$/ && !/^(typedef|struct|enum|union|#)/ {
            if (!infn) { start = NR; name = $0; sub(/\(.*/, "", name); sub(/.*[ \*]/, "", name); infn = 1 }
        }
        infn && /^}/ {
            len = NR - start + 1
            if (len > max) printf "  %s: %s() %d lines (line %d)\n", file, name, len, start
            infn = 0
        }' "$f"
done | tee /tmp/check_shape.$$
[ -s /tmp/check_shape.$$ ] && bad=1
rm -f /tmp/check_shape.$$

echo "== files that include microhttpd.h (only src/server/http.c / http.h may)"
for f in $(grep -rl '#include[ \t]*<microhttpd.h>' src tests bench 2>/dev/null | sort); do
    case "$f" in
    src/server/http.c | src/server/http.h) echo "  $f" ;;
    *) echo "  $f  <- not allowed"; bad=1 ;;
    esac
done

[ "$bad" = 0 ] && echo "shape: ok" || echo "shape: limits exceeded"
exit "$bad"
