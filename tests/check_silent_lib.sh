#!/usr/bin/env bash
# The library never prints and never exits (include/frost/frost.h): no object in
# libfrost.a may reference a function that writes to the terminal or ends the process,
# nor the stdout / stderr streams. Writing the library's own data files goes through
# fwrite on a FILE* it opened itself (src/io/textfile.c), which is why fwrite is allowed:
# with stdout and stderr never referenced it cannot reach the terminal.
#
# usage: check_silent_lib.sh path/to/libfrost.a   (CTest passes the built library)
set -euo pipefail
lib=${1:?usage: check_silent_lib.sh LIBFROST_A}
[ -f "$lib" ] || { echo "check_silent_lib: no such library: $lib" >&2; exit 2; }

# Printing, its fortified (_FORTIFY_SOURCE) variants and the terminal streams.
banned_print=(printf fprintf vprintf vfprintf dprintf vdprintf puts fputs putchar putc fputc
  putchar_unlocked putc_unlocked fputc_unlocked fputs_unlocked perror psignal psiginfo
  __printf_chk __fprintf_chk __vprintf_chk __vfprintf_chk __dprintf_chk __vdprintf_chk
  __puts_chk err errx verr verrx warn warnx vwarn vwarnx error error_at_line
  stdout stderr _IO_2_1_stdout_ _IO_2_1_stderr_)
# Ending the process, directly, through assert() or at exit.
banned_exit=(exit _exit _Exit quick_exit abort __assert_fail __assert_perror_fail __assert
  atexit at_quick_exit on_exit __cxa_atexit)

# Objects allowed to reference a banned symbol, as "object.o:symbol". Empty: the library
# reports progress only through caller-supplied callbacks. Sanitizer instrumentation
# (-fsanitize=address,undefined) references only __asan_* / __ubsan_* / __sanitizer_*
# runtime entry points, none of them banned, so the sanitizer build needs no exception.
allowed=()

# "object.o:symbol" for every undefined symbol of every member (nm -A prefixes each
# line with "archive:member:").
undefined=$(nm -A "$lib" 2>/dev/null | awk '$(NF-1) == "U" { n = split($1, p, ":"); print p[n-1] ":" $NF }')
[ -n "$undefined" ] || { echo "check_silent_lib: nm found no undefined symbols in $lib" >&2; exit 2; }

failed=0
for sym in "${banned_print[@]}" "${banned_exit[@]}"; do
  while IFS= read -r hit; do
    [ -n "$hit" ] || continue
    for ok in "${allowed[@]+"${allowed[@]}"}"; do
      [ "$hit" = "$ok" ] && continue 2
    done
    echo "check_silent_lib: ${hit%%:*} references ${hit##*:}: the library must not print or exit" >&2
    failed=1
  done < <(grep -E ":${sym}(@.*)?$" <<< "$undefined" || true)
done
if [ "$failed" -ne 0 ]; then
  echo "check_silent_lib: FAILED (return a frost_status / hand text or events to the caller instead)" >&2
  exit 1
fi
echo "check_silent_lib: no object of $lib references printing, stdout/stderr or exiting"
