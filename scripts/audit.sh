#!/usr/bin/env bash
# Dependency audit (issue 6): pip-audit over every package installed in the project's venv.
#
#   scripts/audit.sh                      # after `make setup`; pip-audit comes with the `test` extras
#   scripts/audit.sh --allow-unreachable  # CI here: exit 0 (with a loud warning) when the service
#                                         # cannot be reached; findings still fail
#
# What it audits: `pip freeze --all --exclude-editable` of $VENV (default .venv), i.e. the
# exact versions the tests ran with, pip and setuptools included, the project itself excluded.
# Allow-list: .pip-audit-ignore, one advisory a line: `ID  YYYY-MM-DD  reason` ('#' comments).
# An entry needs all three; an entry older than $RBM_AUDIT_MAX_AGE_DAYS (default 90) must be
# reviewed again (re-dated) or the audit fails.
#
# Exit codes:
#   0  every dependency was audited; no known vulnerability outside the allow-list
#   1  known vulnerabilities (listed), or a bad/expired allow-list entry
#   2  set-up error (no venv, pip-audit missing)
#   3  the vulnerability service could not be reached: NOTHING was audited (not a pass)
#
# Service: pip-audit's default, PyPI's JSON API (https://pypi.org/pypi/<name>/<version>/json);
# RBM_AUDIT_SERVICE=osv selects OSV instead. On machines that reach PyPI only through a
# package mirror the per-version JSON API answers 404, every dependency is "not found on
# PyPI", and pip-audit itself would print "No known vulnerabilities found": this script
# reports that as exit 3 instead. See docs/reliability.md for how CI treats it.
set -euo pipefail
cd "$(dirname "$0")/.."

allow_unreachable=0
for arg in "$@"; do
  case "$arg" in
    --allow-unreachable) allow_unreachable=1 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "audit: unknown argument $arg" >&2; exit 2 ;;
  esac
done
unreachable() {
  if [ "$allow_unreachable" = 1 ]; then
    echo "audit: WARNING: dependency audit NOT performed (vulnerability service unreachable); --allow-unreachable given, exit 0" >&2
    exit 0
  fi
  exit 3
}

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
PIP_AUDIT=${PIP_AUDIT:-$VENV/bin/pip-audit}
ALLOW=${RBM_AUDIT_ALLOWLIST:-.pip-audit-ignore}
SERVICE=${RBM_AUDIT_SERVICE:-pypi}
MAX_AGE=${RBM_AUDIT_MAX_AGE_DAYS:-90}

[ -x "$PY" ] || { echo "audit: no virtual environment at $VENV (run make setup)" >&2; exit 2; }
[ -x "$PIP_AUDIT" ] || { echo "audit: pip-audit is not installed in $VENV (make setup installs the test extras)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip freeze --all --exclude-editable --disable-pip-version-check 2>/dev/null \
  | grep -v -E '^(-e |#)' > "$work/requirements.txt"

# The allow-list: checked here (format, date, age), then passed as --ignore-vuln.
ignore_args=()
if [ -f "$ALLOW" ]; then
  if ! "$PY" - "$ALLOW" "$MAX_AGE" > "$work/ignore.txt" <<'PYEOF'
import datetime as dt, sys
path, max_age = sys.argv[1], int(sys.argv[2])
bad = []
for n, line in enumerate(open(path, encoding="utf-8"), start=1):
    text = line.split("#", 1)[0].strip()
    if not text:
        continue
    parts = text.split(None, 2)
    if len(parts) < 3:
        bad.append(f"{path}:{n}: expected 'ID  YYYY-MM-DD  reason', got {text!r}")
        continue
    vid, day, _reason = parts
    try:
        age = (dt.date.today() - dt.date.fromisoformat(day)).days
    except ValueError:
        bad.append(f"{path}:{n}: {day!r} is not a date (YYYY-MM-DD)")
        continue
    if age > max_age:
        bad.append(f"{path}:{n}: {vid} was last reviewed {age} days ago (> {max_age}): review it and re-date it")
        continue
    print(vid)
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF
  then
    echo "audit: FAILED: the allow-list $ALLOW has bad or expired entries (above)" >&2
    exit 1
  fi
  while read -r vid; do ignore_args+=(--ignore-vuln "$vid"); done < "$work/ignore.txt"
fi

n=$(wc -l < "$work/requirements.txt")
echo "audit: $n installed distributions of $VENV, service $SERVICE, ${#ignore_args[@]} allow-list argument(s)"
set +e
"$PIP_AUDIT" -r "$work/requirements.txt" --no-deps --disable-pip --progress-spinner off \
  -s "$SERVICE" --timeout 20 -f json -o "$work/report.json" "${ignore_args[@]}" 2> "$work/stderr.txt"
rc=$?
set -e
if [ ! -s "$work/report.json" ]; then
  if grep -q -E "ConnectionError|NameResolutionError|Max retries|timed out|ServiceError" "$work/stderr.txt"; then
    echo "audit: UNREACHABLE: pip-audit could not reach the $SERVICE vulnerability service; nothing was audited" >&2
    tail -n 1 "$work/stderr.txt" >&2
    unreachable
  fi
  echo "audit: pip-audit failed (exit $rc) without a report:" >&2
  tail -n 20 "$work/stderr.txt" >&2
  exit 2
fi

set +e
"$PY" - "$work/report.json" "$SERVICE" <<'PYEOF'
import json, sys
report, service = json.load(open(sys.argv[1], encoding="utf-8")), sys.argv[2]
deps = report.get("dependencies", [])
skipped = [d for d in deps if d.get("skip_reason")]
audited = [d for d in deps if not d.get("skip_reason")]
vulns = [(d["name"], d["version"], v) for d in audited for v in d.get("vulns", [])]
if deps and not audited:
    reasons = sorted({d["skip_reason"].split(":")[0] for d in skipped})
    print(f"audit: UNREACHABLE: none of the {len(deps)} dependencies could be audited by the {service} service "
          f"({'; '.join(reasons)}). This is not a pass: no vulnerability data was read.", file=sys.stderr)
    sys.exit(3)
for d in skipped:
    print(f"audit: warning: {d['name']} {d['version']} not audited: {d['skip_reason']}", file=sys.stderr)
for name, version, v in vulns:
    fixes = ", ".join(v.get("fix_versions") or []) or "no fixed version yet"
    aliases = ", ".join(v.get("aliases") or [])
    print(f"audit: VULNERABLE {name} {version}: {v['id']}" + (f" ({aliases})" if aliases else "") + f"; fixed in {fixes}")
print(f"audit: {len(audited)} audited, {len(skipped)} not audited, {len(vulns)} known vulnerabilities "
      "(allow-listed advisories not counted)")
sys.exit(1 if vulns else 0)
PYEOF
rc=$?
set -e
[ "$rc" -eq 3 ] && unreachable
exit "$rc"
