#!/usr/bin/env bash
# Runs the quick commands of the README and the guide, so that the commands the docs
# show keep working as written. .ci/run calls it after the tests.
#
#   scripts/quick-commands.sh                 # README.md and docs/guide/src/**/*.md
#   scripts/quick-commands.sh FILE...         # only these files
#   scripts/quick-commands.sh --list [FILE...]  # print the commands, run nothing
#
# The convention (CONTRIBUTING.md describes it too): a fenced block whose info string is
# `sh,quick` holds commands that take seconds once built. Each line is a command, run
# from the repository's root with bash (`set -o pipefail`); a line ending in `\`
# continues on the next. A line starting with `# ` after a command is output that
# command must print: some line of its output (stdout and stderr, colours removed) must
# match it, where `...` stands for any text. Put comments at the end of a command's
# line, never on a line of their own.
#
# Every command runs, even after a failure; each failure is reported with the file and
# line of its command, and the script exits non-zero if any failed. QUICK_TIMEOUT
# (seconds, default 900: the first command of a run may build the examples) bounds
# each command.
set -euo pipefail
cd "$(dirname "$0")/.."

list=0
if [ "${1:-}" = "--list" ]; then
    list=1
    shift
fi
if [ "$#" -gt 0 ]; then
    files=("$@")
else
    files=(README.md)
    while IFS= read -r f; do files+=("$f"); done < <(find docs/guide/src -name '*.md' | LC_ALL=C sort)
fi

# Extracts the quick blocks as NUL-separated records:
#   C, file, line, command   (a command; continuation lines joined with newlines)
#   E, pattern               (output the command before must print)
#   X, file, line, message   (a block that breaks the convention)
extract() {
    awk '
        function flush() {
            if (cmd != "") { printf "C%c%s%c%d%c%s%c", 0, FILENAME, 0, cmdline, 0, cmd, 0; cmd = "" }
        }
        /^[ \t]*```/ {
            if (!infence) {
                infence = 1
                info = $0
                sub(/^[ \t]*```+/, "", info)
                quick = (info ~ /^(sh|bash|shell),(.*,)?quick(,|$)/)
                seen = 0; cont = 0; cmd = ""
                next
            } else if ($0 ~ /^[ \t]*```+[ \t]*$/) {
                if (quick) {
                    if (cont) printf "X%c%s%c%d%c%s%c", 0, FILENAME, 0, FNR, 0, "a command continues past the end of its block", 0
                    flush()
                }
                infence = 0; quick = 0
                next
            }
        }
        !infence || !quick { next }
        cont {
            cmd = cmd "\n" $0
            cont = ($0 ~ /\\$/)
            next
        }
        /^[ \t]*$/ { next }
        /^#( |$)/ {
            if (!seen) {
                printf "X%c%s%c%d%c%s%c", 0, FILENAME, 0, FNR, 0, "expected output before any command (comments go at the end of a command line)", 0
                next
            }
            flush()
            pattern = $0
            sub(/^# ?/, "", pattern)
            printf "E%c%s%c", 0, pattern, 0
            next
        }
        {
            flush()
            seen = 1
            cmd = $0; cmdline = FNR
            cont = ($0 ~ /\\$/)
        }
        END { }
    ' "$@"
}

# An expected-output line as an extended regular expression: literal text, `...` any.
pattern_regex() {
    local rest=$1 re='' piece
    while :; do
        piece=${rest%%...*}
        re+=$(printf '%s' "$piece" | sed -e 's/[][\\.*^$(){}?+|]/\\&/g')
        if [ "$piece" = "$rest" ]; then
            break
        fi
        re+='.*'
        rest=${rest#*...}
    done
    printf '%s' "$re"
}

failures=0
commands=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
current=''   # "file:line" of the command whose output is in $out, or '' if it failed

report() { # file:line, message: a failure, with the end of the command's output
    failures=$((failures + 1))
    echo "FAIL $1: $2" >&2
    if [ -s "$out" ]; then
        echo "---- last lines of its output:" >&2
        tail -n 30 "$out" | sed 's/^/    /' >&2
        echo "----" >&2
    fi
}

while IFS= read -r -d '' kind; do
    case "$kind" in
        C)
            IFS= read -r -d '' file
            IFS= read -r -d '' line
            IFS= read -r -d '' cmd
            commands=$((commands + 1))
            if [ "$list" = 1 ]; then
                printf '%s:%s: %s\n' "$file" "$line" "$cmd"
                continue
            fi
            echo "== $file:$line: $cmd" >&2
            status=0
            timeout "${QUICK_TIMEOUT:-900}" bash -o pipefail -c "$cmd" </dev/null 2>&1 \
                | sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' >"$out" || status=$?
            if [ "$status" -ne 0 ]; then
                report "$file:$line" "exit status $status: $cmd"
                current=''
            else
                current="$file:$line"
            fi
            ;;
        E)
            IFS= read -r -d '' pattern
            if [ "$list" = 1 ]; then
                printf '    # %s\n' "$pattern"
                continue
            fi
            [ -n "$current" ] || continue # its command failed: reported already
            if ! grep -qE -- "$(pattern_regex "$pattern")" "$out"; then
                report "$current" "no line of the output matches: # $pattern"
            fi
            ;;
        X)
            IFS= read -r -d '' file
            IFS= read -r -d '' line
            IFS= read -r -d '' message
            failures=$((failures + 1))
            echo "FAIL $file:$line: $message" >&2
            ;;
    esac
done < <(extract "${files[@]}")

if [ "$commands" -eq 0 ]; then
    echo "no quick commands found in ${files[*]}" >&2
    exit 1
fi
if [ "$list" = 1 ]; then
    exit "$((failures > 0))"
fi
if [ "$failures" -gt 0 ]; then
    echo "$failures failure(s) in $commands quick commands" >&2
    exit 1
fi
echo "all $commands quick commands ran as shown" >&2
