#!/usr/bin/env bash
# The scanner tier: Checkov (pinned) on the rendered dev and prod stacks. Fails on a parsing error and on every
# failed check that scripts/scan-skips.tsv does not list (check id + resource pattern + why); lists unused skips.
# `npm run test:scan` (needs python3 with venv; pip reaches PyPI the first time).
set -euo pipefail
CHECKOV_VERSION=3.3.30
VENV="${SYNERGYFLOW_CHECKOV_VENV:-$HOME/.cache/synergyflow-db-checkov}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SKIPS="$ROOT/scripts/scan-skips.tsv"

installed() { "$VENV/bin/python" -m pip show checkov 2>/dev/null | sed -n 's/^Version: //p'; }
if [ ! -x "$VENV/bin/checkov" ] || [ "$(installed)" != "$CHECKOV_VERSION" ]; then
    echo "scan: installing checkov $CHECKOV_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet "checkov==$CHECKOV_VERSION"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
for stack in dev prod; do
    (cd "$ROOT" && ts-node --transpile-only scripts/synth.ts "$stack" --out "$out/rendered" >/dev/null 2>"$out/$stack.synth.log") || { cat "$out/$stack.synth.log" >&2; exit 1; }
    # Exit status 1 only means "a check failed": the JSON is judged below.
    "$VENV/bin/checkov" -d "$out/rendered/$stack" --framework kubernetes --quiet --compact -o json >"$out/$stack.json" 2>"$out/$stack.checkov.log" || true
    "$VENV/bin/python" - "$stack" "$out/$stack.json" "$SKIPS" <<'PY' || status=1
import json, re, sys
stack, report, skips_file = sys.argv[1:]
try:
    data = json.load(open(report))
except ValueError:
    sys.exit(f"scan {stack}: checkov wrote no JSON report")
data = data[0] if isinstance(data, list) else data
if "summary" not in data:
    sys.exit(f"scan {stack}: checkov found nothing to scan")
skips = []
for line in open(skips_file):
    if line.strip() and not line.startswith("#"):
        check, pattern, why = line.rstrip("\n").split("\t")
        skips.append((check, re.compile(pattern), why))
summary = data["summary"]
failed = data["results"]["failed_checks"]
unlisted, used = [], set()
for f in failed:
    match = next((i for i, (check, pattern, _) in enumerate(skips) if check == f["check_id"] and pattern.search(f["resource"])), None)
    if match is None:
        unlisted.append(f)
    else:
        used.add(match)
print(f"scan {stack}: checkov {summary['checkov_version']}: {summary['passed']} passed, {summary['failed']} failed ({len(failed) - len(unlisted)} listed in scripts/scan-skips.tsv), {summary['parsing_errors']} parsing errors")
for f in failed:
    print(f"  {'listed  ' if f not in unlisted else 'UNLISTED'} {f['check_id']} {f['resource']}: {f['check_name']}")
for i, (check, pattern, _) in enumerate(skips):
    if i not in used:
        print(f"  unused skip: {check} {pattern.pattern} (nothing fails it on {stack})")
if summary["parsing_errors"] or unlisted:
    sys.exit(f"scan {stack}: {len(unlisted)} failed check(s) not in scripts/scan-skips.tsv, {summary['parsing_errors']} parsing error(s)")
PY
done
exit "$status"
